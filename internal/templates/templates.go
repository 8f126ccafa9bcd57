// Package templates renders a notification's text per person from
// templates kept per category and locale, with fallbacks: the person's
// locale (fr-CA), its language (fr), the notification's own locale and its
// language, the category's locale-free template, then the same for the
// catch-all _default template, and finally the notification's own text.
//
// Templates are Go text/template files in a directory:
//
//	DIR/training.tmpl        any locale
//	DIR/fr/training.tmpl     French
//	DIR/fr-CA/training.tmpl  Canadian French
//	DIR/_default.tmpl        every category without a template of its own
//	DIR/_digest.tmpl         the text of digests (see DigestData)
//
// A file defines a "title" and a "message" block; a file without a
// "message" block is the message itself. A template that fails (a missing
// data key, say) gives way to the next one in the chain. The package reads
// files only in Load; rendering does no I/O.
package templates

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/herald/herald/internal/event"
)

// Reserved template names: category names start with a letter or a digit,
// so these never clash with one.
const (
	// Default renders notifications whose category has no template.
	Default = "_default"
	// Digest renders digests.
	Digest = "_digest"
)

// Set is a loaded directory of templates. The nil *Set has no templates:
// it renders every notification with its own text. A Set is safe for
// concurrent use.
type Set struct {
	// byName maps "category" or "category@locale" (locale lower case) to
	// its template.
	byName map[string]*template.Template
}

var namePattern = regexp.MustCompile(`^(_default|_digest|[a-z0-9][a-z0-9._-]{0,63})\.tmpl$`)

// Load reads every template under dir: DIR/<category>.tmpl and
// DIR/<locale>/<category>.tmpl. It fails, naming the file, on a template
// that does not parse, a file name that is not a category, or a directory
// that is not a BCP 47 locale.
func Load(dir string) (*Set, error) {
	s := &Set{byName: map[string]*template.Template{}}
	root := os.DirFS(dir)
	err := fs.WalkDir(root, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		parts := strings.Split(path, "/")
		if d.IsDir() {
			switch {
			case path == ".":
			case len(parts) > 1:
				return fmt.Errorf("%s: templates are DIR/<category>.tmpl or DIR/<locale>/<category>.tmpl; no deeper directories", filepath.Join(dir, path))
			case event.CheckLocale(d.Name()) != "":
				return fmt.Errorf("%s: a directory of templates is named after a BCP 47 locale such as fr or fr-CA", filepath.Join(dir, path))
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			return nil // editors' and VCS files
		}
		m := namePattern.FindStringSubmatch(d.Name())
		if m == nil {
			return fmt.Errorf("%s: a template file is <category>.tmpl (lower-case letters, digits, '.', '_' or '-'), %s.tmpl or %s.tmpl", filepath.Join(dir, path), Default, Digest)
		}
		name := m[1]
		if len(parts) == 2 {
			name += "@" + strings.ToLower(parts[0])
		}
		text, err := fs.ReadFile(root, path)
		if err != nil {
			return err
		}
		t, err := parse(name, string(text))
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, path), err)
		}
		s.byName[name] = t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return s, nil
}

// Parse makes a Set from texts keyed like Load's files, without the
// extension: "training", "fr/training", "_digest". It is for tests and
// embedding programs.
func Parse(texts map[string]string) (*Set, error) {
	s := &Set{byName: map[string]*template.Template{}}
	for key, text := range texts {
		name := key
		if loc, cat, ok := strings.Cut(key, "/"); ok {
			name = cat + "@" + strings.ToLower(loc)
		}
		t, err := parse(name, text)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", key, err)
		}
		s.byName[name] = t
	}
	return s, nil
}

func parse(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	if t.Lookup("message") == nil && strings.TrimSpace(text) == "" {
		return nil, errors.New(`the template is empty: give the message text, or define a "message" block`)
	}
	return t, nil
}

// Len is the number of templates loaded.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.byName)
}

// Data is what a notification template sees.
type Data struct {
	// User is the person's id and Locale the locale being rendered ("" for
	// a locale-free template).
	User   string
	Locale string
	// Title, Message, Category and Urgency are the notification's own.
	Title    string
	Message  string
	Category string
	Urgency  string
	// Data is the notification's free data, decoded (a map for an object).
	Data any
}

// DigestData is what the _digest template sees.
type DigestData struct {
	User     string
	Locale   string
	Category string
	// Count is len(Items).
	Count int
	Items []DigestItem
}

// DigestItem is one notification in a digest.
type DigestItem struct {
	Title   string
	Message string
	Data    any
}

// Text is a rendered title and message.
type Text struct {
	Title   string
	Message string
	// Locale is the locale of the template used, "" for a locale-free
	// one or the notification's own text.
	Locale string
	// Template names the template used, "" for the notification's own
	// text.
	Template string
}

// Render returns n's text for a person whose preferred locale is locale
// ("" when unknown). err reports templates that failed on the way; the text
// is then the next one in the chain, so it is always usable.
func (s *Set) Render(n event.Notification, user, locale string) (Text, error) {
	own := Text{Title: n.Title, Message: n.Message}
	if s.Len() == 0 {
		return own, nil
	}
	d := Data{User: user, Title: n.Title, Message: n.Message, Category: n.Category, Urgency: string(n.Urgency), Data: decode(n.Data)}
	return s.first(s.chain(n.Category, locale, n.Locale), own, func(locale string) any {
		d.Locale = locale
		return d
	})
}

// RenderDigest returns the text of a digest of items in category for a
// person, from the _digest template or, without one, in English: "3 new
// marketing notifications" and a line per item.
func (s *Set) RenderDigest(d DigestData, locale string) (Text, error) {
	d.Count = len(d.Items)
	var lines []string
	for _, it := range d.Items {
		line := it.Title
		if line == "" {
			line = it.Message
		}
		lines = append(lines, "• "+line)
	}
	what := "notifications"
	if d.Category != "" {
		what = d.Category + " notifications"
	}
	own := Text{Title: fmt.Sprintf("%d new %s", d.Count, what), Message: clip(strings.Join(lines, "\n"), event.MaxMessageLen)}
	if s.Len() == 0 {
		return own, nil
	}
	return s.first(s.chainOf(Digest, locale, ""), own, func(locale string) any {
		d.Locale = locale
		return d
	})
}

// first renders the first of the templates names that executes, with the
// data for its locale, or else own; the errors of those that failed come
// with the text.
func (s *Set) first(names []string, own Text, data func(locale string) any) (Text, error) {
	var errs []error
	for _, name := range names {
		locale := localeOf(name)
		text, err := execute(s.byName[name], data(locale), own.Title)
		if err != nil {
			errs = append(errs, fmt.Errorf("template %s: %w", displayName(name), err))
			continue
		}
		text.Locale, text.Template = locale, displayName(name)
		return text, errors.Join(errs...)
	}
	return own, errors.Join(errs...)
}

// chain lists the templates to try for category, in order.
func (s *Set) chain(category, personLocale, eventLocale string) []string {
	var out []string
	if category != "" {
		out = s.chainOf(category, personLocale, eventLocale)
	}
	return append(out, s.chainOf(Default, personLocale, eventLocale)...)
}

func (s *Set) chainOf(name, personLocale, eventLocale string) []string {
	var out []string
	seen := map[string]bool{}
	try := func(n string) {
		if !seen[n] && s.byName[n] != nil {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, loc := range []string{personLocale, eventLocale} {
		for _, l := range fallbacks(loc) {
			try(name + "@" + l)
		}
	}
	try(name)
	return out
}

// fallbacks returns a locale and its parents, lower case: fr-ca, fr.
func fallbacks(locale string) []string {
	if locale == "" {
		return nil
	}
	tag, err := language.Parse(locale)
	if err != nil {
		return []string{strings.ToLower(locale)}
	}
	var out []string
	for t := tag; !t.IsRoot(); t = t.Parent() {
		out = append(out, strings.ToLower(t.String()))
	}
	return out
}

// localeOf returns the locale of a template's name in canonical case
// (fr-CA), "" for a locale-free template.
func localeOf(name string) string {
	_, loc, _ := strings.Cut(name, "@")
	if tag, err := language.Parse(loc); err == nil && loc != "" {
		return tag.String()
	}
	return loc
}

// displayName names a template as its file under the directory.
func displayName(name string) string {
	if cat, loc, ok := strings.Cut(name, "@"); ok {
		return loc + "/" + cat
	}
	return name
}

// execute renders t's title and message blocks; a template without a
// message block is the message.
func execute(t *template.Template, data any, ownTitle string) (Text, error) {
	var out Text
	var buf bytes.Buffer
	if mt := t.Lookup("message"); mt != nil {
		if err := mt.Execute(&buf, data); err != nil {
			return out, err
		}
	} else if err := t.Execute(&buf, data); err != nil {
		return out, err
	}
	out.Message = clip(strings.TrimSpace(buf.String()), event.MaxMessageLen)
	if out.Message == "" {
		return out, errors.New("rendered an empty message")
	}
	out.Title = ownTitle
	if tt := t.Lookup("title"); tt != nil {
		buf.Reset()
		if err := tt.Execute(&buf, data); err != nil {
			return out, err
		}
		out.Title = clip(strings.TrimSpace(buf.String()), event.MaxTitleLen)
	}
	return out, nil
}

// clip cuts s to at most n characters.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func decode(raw json.RawMessage) any {
	if len(raw) == 0 {
		return map[string]any{}
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return map[string]any{}
	}
	return v
}
