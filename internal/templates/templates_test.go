package templates

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herald/herald/internal/event"
)

func training() event.Notification {
	return event.Notification{Title: "Training due", Message: "Finish SEC-101", Category: "training",
		Urgency: event.UrgencyNormal, Locale: "en-US", Data: json.RawMessage(`{"course": "SEC-101", "due": "Friday"}`)}
}

func mustParse(t *testing.T, texts map[string]string) *Set {
	t.Helper()
	s, err := Parse(texts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s
}

// TestRenderFallsBackAlongTheLocaleChain: exact locale, its language, the
// notification's locale, the locale-free template, _default, the
// notification's own text.
func TestRenderFallsBackAlongTheLocaleChain(t *testing.T) {
	t.Parallel()
	full := mustParse(t, map[string]string{
		"fr-CA/training": `{{define "title"}}Formation (CA){{end}}{{define "message"}}Terminez {{.Data.course}} d'ici {{.Data.due}}{{end}}`,
		"fr/training":    `{{define "title"}}Formation{{end}}{{define "message"}}Terminez {{.Data.course}}{{end}}`,
		"en/training":    `{{define "title"}}Training for {{.User}}{{end}}Please finish {{.Data.course}} by {{.Data.due}}.`,
		"training":       `Finish {{.Data.course}} ({{.Category}}).`,
		"_default":       `{{.Category}}: {{.Message}}`,
	})
	noFrench := mustParse(t, map[string]string{"training": `Finish {{.Data.course}}.`, "_default": `{{.Message}}!`})
	for _, tc := range []struct {
		name            string
		s               *Set
		n               event.Notification
		locale          string
		title, message  string
		wantLocale, tpl string
	}{
		{"exact locale", full, training(), "fr-CA", "Formation (CA)", "Terminez SEC-101 d'ici Friday", "fr-CA", "fr-ca/training"},
		{"locale in another case", full, training(), "FR-ca", "Formation (CA)", "Terminez SEC-101 d'ici Friday", "fr-CA", "fr-ca/training"},
		{"language of the locale", full, training(), "fr-BE", "Formation", "Terminez SEC-101", "fr", "fr/training"},
		{"the notification's locale when the person's has none", full, training(), "de-DE", "Training for ada", "Please finish SEC-101 by Friday.", "en", "en/training"},
		{"the person has no locale", full, training(), "", "Training for ada", "Please finish SEC-101 by Friday.", "en", "en/training"},
		{"locale-free template", noFrench, training(), "fr-CA", "Training due", "Finish SEC-101.", "", "training"},
		{"_default for a category without templates", full, event.Notification{Message: "Laptop ready", Category: "it"}, "fr", "", "it: Laptop ready", "", "_default"},
		{"_default for an uncategorised notification", noFrench, event.Notification{Message: "Hello"}, "fr", "", "Hello!", "", "_default"},
		{"no templates", nil, training(), "fr", "Training due", "Finish SEC-101", "", ""},
	} {
		got, err := tc.s.Render(tc.n, "ada", tc.locale)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if got.Title != tc.title || got.Message != tc.message || got.Locale != tc.wantLocale || got.Template != tc.tpl {
			t.Errorf("%s: got %+v; want title %q message %q locale %q template %q", tc.name, got, tc.title, tc.message, tc.wantLocale, tc.tpl)
		}
	}
}

// TestAFailingTemplateGivesWayToTheNext: a template that needs data the
// notification lacks falls back, and the error says which one failed.
func TestAFailingTemplateGivesWayToTheNext(t *testing.T) {
	t.Parallel()
	s := mustParse(t, map[string]string{
		"fr/training": `Terminez {{.Data.course}} avant {{.Data.deadline}}`,
		"training":    `Finish {{.Data.course}}`,
	})
	got, err := s.Render(training(), "ada", "fr")
	if got.Message != "Finish SEC-101" || got.Template != "training" {
		t.Errorf("got %+v; want the locale-free template's text", got)
	}
	if err == nil || !strings.Contains(err.Error(), "fr/training") || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("err = %v; want it to name fr/training and the missing key", err)
	}
	bare := training()
	bare.Data = nil
	got, err = s.Render(bare, "ada", "fr")
	if got.Message != bare.Message || got.Title != bare.Title || err == nil {
		t.Errorf("every template failing: got %+v, %v; want the notification's own text and an error", got, err)
	}
}

func TestRenderClipsToTheNotificationLimits(t *testing.T) {
	t.Parallel()
	s := mustParse(t, map[string]string{"training": `{{define "title"}}{{.Data.t}}{{end}}{{.Data.m}}`})
	n := training()
	n.Data, _ = json.Marshal(map[string]string{"t": strings.Repeat("t", 300), "m": strings.Repeat("é", 5000)})
	got, _ := s.Render(n, "ada", "")
	if len([]rune(got.Title)) != event.MaxTitleLen || len([]rune(got.Message)) != event.MaxMessageLen {
		t.Errorf("title %d, message %d characters; want %d and %d", len([]rune(got.Title)), len([]rune(got.Message)), event.MaxTitleLen, event.MaxMessageLen)
	}
}

func TestRenderDigest(t *testing.T) {
	t.Parallel()
	d := DigestData{User: "ada", Category: "marketing", Items: []DigestItem{{Title: "Sale"}, {Message: "New catalogue"}, {Title: "Webinar"}}}
	got, err := (*Set)(nil).RenderDigest(d, "fr")
	if err != nil || got.Title != "3 new marketing notifications" || got.Message != "• Sale\n• New catalogue\n• Webinar" {
		t.Errorf("without templates: %+v, %v", got, err)
	}
	s := mustParse(t, map[string]string{
		"fr/_digest": `{{define "title"}}{{.Count}} nouveautés ({{.Category}}){{end}}{{range .Items}}- {{.Title}}
{{end}}`,
	})
	got, err = s.RenderDigest(d, "fr-FR")
	if err != nil || got.Title != "3 nouveautés (marketing)" || got.Message != "- Sale\n- \n- Webinar" || got.Locale != "fr" {
		t.Errorf("French digest: %+v, %v", got, err)
	}
	got, _ = s.RenderDigest(d, "de")
	if got.Title != "3 new marketing notifications" {
		t.Errorf("no German digest template: %+v; want the built-in text", got)
	}
}

// TestLoad reads a directory and refuses what it cannot use, naming the
// file.
func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("training.tmpl", "Finish {{.Data.course}}")
	write("fr-CA/training.tmpl", "Terminez {{.Data.course}}")
	write("fr/training.due.tmpl", "Bientôt")
	write("_digest.tmpl", "{{.Count}}")
	write(".training.tmpl.swp", "junk")
	s, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if s.Len() != 4 {
		t.Errorf("loaded %d templates, want 4", s.Len())
	}
	got, _ := s.Render(training(), "ada", "fr-CA")
	if got.Message != "Terminez SEC-101" {
		t.Errorf("fr-CA: %+v", got)
	}

	for _, tc := range []struct{ file, text, problem string }{
		{"Training.tmpl", "x", "Training.tmpl: a template file is <category>.tmpl"},
		{"training.txt", "x", "training.txt: a template file is"},
		{"klingon-xx-yy-zz/training.tmpl", "x", "klingon-xx-yy-zz: a directory of templates is named after a BCP 47 locale"},
		{"fr/deep/training.tmpl", "x", "no deeper directories"},
		{"broken.tmpl", "{{.Data.course", "broken.tmpl: template: broken"},
		{"empty.tmpl", "  \n", "empty.tmpl: the template is empty"},
	} {
		bad := t.TempDir()
		dir = bad
		write(tc.file, tc.text)
		_, err := Load(bad)
		if err == nil || !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("Load with %s = %v; want an error containing %q", tc.file, err, tc.problem)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
}
