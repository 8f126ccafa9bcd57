package webpush

import (
	"bytes"
	"crypto/ecdh"
	"encoding/base64"
	"strings"
	"testing"
)

func b64d(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncryptReproducesRFC8291Example checks the aes128gcm encoding against
// RFC 8291 section 5 (keys and salt from Appendix A): the same inputs must
// give the published body byte for byte.
func TestEncryptReproducesRFC8291Example(t *testing.T) {
	as, err := ecdh.P256().NewPrivateKey(b64d(t, "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(as.PublicKey().Bytes(), b64d(t, `BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIg
		Dll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8`)) {
		t.Fatal("as_public does not match the RFC")
	}
	got, err := encrypt([]byte("When I grow up, I want to be a watermelon"),
		b64d(t, `BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4`),
		b64d(t, "BTBZMqHH6r4Tts7J_aSIgg"), as, b64d(t, "DGv6ra1nlYgDCS1FRnbzlw"))
	if err != nil {
		t.Fatal(err)
	}
	want := b64d(t, `DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml
		mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT
		pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN`)
	if !bytes.Equal(got, want) {
		t.Fatalf("encrypt(RFC 8291 example):\n got %x\nwant %x", got, want)
	}
	ua, err := ecdh.P256().NewPrivateKey(b64d(t, "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Decrypt(want, ua, b64d(t, "BTBZMqHH6r4Tts7J_aSIgg"))
	if err != nil || string(plain) != "When I grow up, I want to be a watermelon" {
		t.Fatalf("Decrypt(RFC example) = %q, %v", plain, err)
	}
}

func TestEncryptRejectsBadSubscriptionKeys(t *testing.T) {
	if _, err := Encrypt([]byte("x"), make([]byte, 65), make([]byte, 16)); err == nil {
		t.Error("encrypting to a zero point succeeded")
	}
	ua, _ := ecdh.P256().GenerateKey(nil)
	if _, err := Encrypt([]byte("x"), ua.PublicKey().Bytes(), make([]byte, 8)); err == nil {
		t.Error("an 8-byte auth secret was accepted")
	}
	if _, err := Encrypt(make([]byte, MaxPlaintext+1), ua.PublicKey().Bytes(), make([]byte, 16)); err == nil {
		t.Error("3994 bytes of plaintext were accepted")
	}
}
