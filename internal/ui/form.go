package ui

import (
	"net/http"
	"net/url"
	"strings"
)

// form is a submitted form: its values, to show them again, and what is
// wrong with each field, to show beside it. A handler records every
// problem before it saves anything, and saves nothing when there is one.
type form struct {
	Values url.Values
	// Errors maps a field's name to what is wrong with it.
	Errors map[string]string
	// Error is what is wrong with the form as a whole.
	Error string
}

func newForm(r *http.Request) *form {
	_ = r.ParseForm()
	return &form{Values: r.PostForm, Errors: map[string]string{}}
}

func newEmptyForm() *form { return &form{Values: url.Values{}, Errors: map[string]string{}} }

func (f *form) get(name string) string { return f.Values.Get(name) }

// fail records what is wrong with a field; the first problem recorded for
// a field is the one shown.
func (f *form) fail(field, msg string) {
	if _, ok := f.Errors[field]; !ok {
		f.Errors[field] = msg
	}
}

func (f *form) ok() bool { return len(f.Errors) == 0 && f.Error == "" }

// Failed reports, for templates, whether anything is wrong with the form.
func (f *form) Failed() bool { return !f.ok() }

// fieldView is what the "field" partial draws: a label, an input, a hint,
// and the field's error beside it, tied to the input for screen readers.
type fieldView struct {
	Name, Label, Type, Value, Hint, Error string
	// Options are a select's choices (Type "select"), or the suggestions
	// of a text field.
	Options []string
	// Checked is a checkbox's state; Type is "checkbox".
	Checked bool
	// Autocomplete tells password managers what a password field holds:
	// the user's own password ("current-password") or one being chosen
	// ("new-password"), which they offer to generate and save.
	Autocomplete string
}

// ID is the input's element id.
func (f fieldView) ID() string { return "f-" + f.Name }

// newField is the template function building a fieldView:
// {{template "field" (field .Data.Form "name" "Label" "text" "hint")}}.
// Extra arguments are a select's options or a text field's suggestions;
// a list argument is spread. Type "password" asks for the user's own
// password, type "new-password" for a password being chosen.
func newField(f *form, name, label, typ, hint string, options ...any) fieldView {
	v := fieldView{Name: name, Label: label, Type: typ, Hint: hint}
	switch typ {
	case "password":
		v.Autocomplete = "current-password"
	case "new-password":
		v.Type, v.Autocomplete = "password", "new-password"
	}
	for _, o := range options {
		switch o := o.(type) {
		case string:
			v.Options = append(v.Options, o)
		case []string:
			v.Options = append(v.Options, o...)
		}
	}
	if f != nil {
		if v.Type != "password" { // a password is never sent back
			v.Value = f.get(name)
		}
		v.Error = f.Errors[name]
		v.Checked = v.Value != "" && !strings.EqualFold(v.Value, "false")
	}
	return v
}
