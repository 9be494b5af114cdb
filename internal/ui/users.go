package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ottr-go/ottr/internal/api"
	"github.com/ottr-go/ottr/internal/store"
)

// usersData is the users screen: the list, and one of the create form, a
// user's edit forms, or the confirmation of a user's deletion.
type usersData struct {
	Users []store.User
	Roles []string
	// Form is the form shown: the create form, or Edit's.
	Form *form
	// Edit is the user being changed; nil on the list's create form.
	Edit *store.User
	// ConfirmDelete asks to confirm Edit's deletion.
	ConfirmDelete bool
	// Notice says what the last change did.
	Notice string
}

// usersPage lists the users with the form to create one; ?user=NAME
// shows that user's forms (role, password, delete), and with
// &confirm=delete the confirmation of the deletion.
func (u *UI) usersPage(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	f := newEmptyForm()
	f.Values.Set("role", store.RoleDeveloper)
	d := &usersData{Form: f, Notice: usersNotice(q)}
	if name := q.Get("user"); name != "" {
		target, err := u.store.GetUser(r.Context(), name)
		if errors.Is(err, store.ErrNotFound) {
			return userError(http.StatusNotFound, "there is no user named "+name+": it may have been deleted; the users screen lists them")
		}
		if err != nil {
			return fmt.Errorf("ui: read user %s: %w", name, err)
		}
		d.Edit, d.ConfirmDelete = &target, q.Get("confirm") == "delete"
		f.Values.Set("role", target.Role)
	}
	return u.renderUsers(w, r, s, http.StatusOK, d)
}

func (u *UI) renderUsers(w http.ResponseWriter, r *http.Request, s *session, status int, d *usersData) error {
	users, err := u.store.ListUsers(r.Context())
	if err != nil {
		return fmt.Errorf("ui: list users: %w", err)
	}
	d.Users, d.Roles = users, api.Roles()
	return u.render(w, r, s, status, "users", "Users", d)
}

// usersPost makes one change to the users, named by the form's op:
// create, role, password or delete. Each checks every field with the
// API's rules first and changes nothing when one is wrong, then records
// the change in the audit trail as the API does.
func (u *UI) usersPost(w http.ResponseWriter, r *http.Request, s *session) error {
	f := newForm(r)
	d := &usersData{Form: f}
	op := f.get("op")
	if op != "create" {
		name := f.get("username")
		target, err := u.store.GetUser(r.Context(), name)
		if errors.Is(err, store.ErrNotFound) {
			return userError(http.StatusNotFound, "there is no user named "+name+": it may have been deleted meanwhile; the users screen lists them")
		}
		if err != nil {
			return fmt.Errorf("ui: read user %s: %w", name, err)
		}
		d.Edit = &target
	}
	var done string
	var err error
	switch op {
	case "create":
		done, err = u.createUser(r.Context(), s, f)
	case "role":
		done, err = u.setRole(r.Context(), s, f, *d.Edit)
	case "password":
		done, err = u.resetPassword(r.Context(), s, f, *d.Edit)
	case "delete":
		d.ConfirmDelete = true
		done, err = u.deleteUser(r.Context(), s, f, *d.Edit)
	default:
		return userError(http.StatusBadRequest, "the form asked for no change ottr knows: reload the users screen and try again")
	}
	if err != nil {
		return err
	}
	if !f.ok() {
		return u.renderUsers(w, r, s, http.StatusUnprocessableEntity, d)
	}
	u.redirect(w, r, "/ui/users?"+done)
	return nil
}

// auditedUser is what the audit trail keeps of a user, as the API's: its
// name and role, never a password or its hash.
func auditedUser(u store.User) map[string]string {
	return map[string]string{"username": u.Username, "role": u.Role}
}

func (u *UI) createUser(ctx context.Context, s *session, f *form) (string, error) {
	username, password, role := f.get("username"), f.get("password"), f.get("role")
	if err := api.CheckUsername(username); err != nil {
		f.fail("username", err.Error())
	}
	if err := api.CheckPasswordRules(password); err != nil {
		f.fail("password", err.Error())
	}
	if err := api.CheckRole(role); err != nil {
		f.fail("role", err.Error())
	}
	if !f.ok() {
		return "", nil
	}
	err := u.sessions.CreateUser(ctx, username, password, role)
	if errors.Is(err, store.ErrExists) {
		f.fail("username", "a user named "+username+" exists already: choose another name, or change that user")
		return "", nil
	}
	if err != nil {
		return "", err
	}
	created := store.User{Username: username, Role: role}
	u.sessions.Audit(ctx, s.User.Username, s.RemoteAddr, "user.create", "user/"+username, nil, auditedUser(created))
	return doneQuery("created", username), nil
}

func (u *UI) setRole(ctx context.Context, s *session, f *form, target store.User) (string, error) {
	role := f.get("role")
	if err := api.CheckRole(role); err != nil {
		f.fail("role", err.Error())
		return "", nil
	}
	if role == target.Role {
		return doneQuery("role", target.Username), nil
	}
	if role != store.RoleAdmin {
		last, err := api.IsLastAdmin(ctx, u.store, target)
		if err != nil {
			return "", err
		}
		if last {
			f.fail("role", target.Username+" is the last ADMIN: create another admin before you make it "+role)
			return "", nil
		}
	}
	before := auditedUser(target)
	target.Role = role
	if err := u.store.UpdateUser(ctx, target); err != nil {
		return "", fmt.Errorf("ui: change the role of %s: %w", target.Username, err)
	}
	u.sessions.Audit(ctx, s.User.Username, s.RemoteAddr, "user.role", "user/"+target.Username, before, auditedUser(target))
	return doneQuery("role", target.Username), nil
}

func (u *UI) resetPassword(ctx context.Context, s *session, f *form, target store.User) (string, error) {
	hash, err := u.sessions.HashPassword(f.get("password"))
	if err != nil {
		f.fail("password", err.Error())
		return "", nil
	}
	target.PasswordHash = hash
	if err := u.store.UpdateUser(ctx, target); err != nil {
		return "", fmt.Errorf("ui: set the password of %s: %w", target.Username, err)
	}
	after := auditedUser(target)
	after["password"] = "changed"
	u.sessions.Audit(ctx, s.User.Username, s.RemoteAddr, "user.password", "user/"+target.Username, auditedUser(target), after)
	return doneQuery("password", target.Username), nil
}

func (u *UI) deleteUser(ctx context.Context, s *session, f *form, target store.User) (string, error) {
	last, err := api.IsLastAdmin(ctx, u.store, target)
	if err != nil {
		return "", err
	}
	if last {
		f.Error = target.Username + " is the last ADMIN: create another admin before you delete this one"
		return "", nil
	}
	if err := u.store.DeleteUser(ctx, target.Username); err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("ui: delete user %s: %w", target.Username, err)
	}
	u.sessions.Audit(ctx, s.User.Username, s.RemoteAddr, "user.delete", "user/"+target.Username, auditedUser(target), nil)
	return doneQuery("deleted", target.Username), nil
}

// doneQuery is the query of the page a change redirects to: the user
// changed, shown again unless deleted, and what was done, for the notice.
func doneQuery(done, username string) string {
	q := url.Values{"done": {done}, "name": {username}}
	if done != "deleted" {
		q.Set("user", username)
	}
	return q.Encode()
}

// usersNotice says what the change a page was redirected from did.
func usersNotice(q url.Values) string {
	name := q.Get("name")
	switch q.Get("done") {
	case "created":
		return "Created " + name + "."
	case "role":
		return name + "'s role is saved."
	case "password":
		return name + "'s password is set; the sessions and tokens issued before no longer work."
	case "deleted":
		return "Deleted " + name + "; its sessions and tokens no longer work."
	}
	return ""
}
