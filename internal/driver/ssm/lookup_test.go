package ssm

import (
	"context"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver/ssm/ssmlab"
)

func TestOpenFindsTheInstanceByItsNameTag(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup adds instances besides web1 and changes the target; it
		// returns the instance the session must reach, or nil when Open
		// must fail.
		setup func(t *testing.T, f *fixture) *ssmlab.Instance
		// wantErr are the texts Open's error must contain.
		wantErr []string
	}{
		{
			name:  "finds the one running instance tagged with the first label of system_name",
			setup: func(_ *testing.T, f *fixture) *ssmlab.Instance { return f.inst },
		},
		{
			name: "names the tag when no running instance has it",
			setup: func(_ *testing.T, f *fixture) *ssmlab.Instance {
				f.target.Asset.SystemName = "db9.example.test"
				return nil
			},
			wantErr: []string{"ssm: open:", `no running EC2 instance in us-east-1 has the tag Name="db9"`},
		},
		{
			name: "names the tag and every instance when several running instances have it",
			setup: func(t *testing.T, f *fixture) *ssmlab.Instance {
				addInstance(t, f.svc, "web1", "web1.example.test")
				return nil
			},
			wantErr: []string{`2 running EC2 instances in us-east-1 have the tag Name="web1"`, "make the Name tag unique"},
		},
		{
			name: "ignores instances with the tag that are not running",
			setup: func(t *testing.T, f *fixture) *ssmlab.Instance {
				stopped := addInstance(t, f.svc, "web1", "web1.example.test")
				if err := stopped.SetState(ssmlab.StateStopped); err != nil {
					t.Fatal(err)
				}
				return f.inst
			},
		},
		{
			name: "a stopped instance is not found",
			setup: func(t *testing.T, f *fixture) *ssmlab.Instance {
				if err := f.inst.SetState(ssmlab.StateStopped); err != nil {
					t.Fatal(err)
				}
				return nil
			},
			wantErr: []string{`no running EC2 instance in us-east-1 has the tag Name="web1"`},
		},
		{
			name: "a name_tag template builds the tag from the asset's labels",
			setup: func(t *testing.T, f *fixture) *ssmlab.Instance {
				f.target.Asset.Labels = map[string]string{"ec2_name": "frontend-7"}
				f.target.Options["name_tag"] = `{{label "ec2_name"}}`
				return addInstance(t, f.svc, "frontend-7", "web1.example.test")
			},
		},
		{
			name: "a name_tag that needs a label the asset lacks names the label",
			setup: func(_ *testing.T, f *fixture) *ssmlab.Instance {
				f.target.Options["name_tag"] = `{{label "ec2_name"}}`
				return nil
			},
			wantErr: []string{`the asset has no label "ec2_name"`},
		},
		{
			name: "a Name tag with wildcard characters matches only itself",
			setup: func(t *testing.T, f *fixture) *ssmlab.Instance {
				f.target.Options["name_tag"] = "web?"
				return addInstance(t, f.svc, "web?", "web1.example.test")
			},
		},
		{
			name: "instance_id_from asset-field takes the ID from a label, without asking EC2",
			setup: func(_ *testing.T, f *fixture) *ssmlab.Instance {
				f.target.Asset.Labels = map[string]string{"instance_id": f.inst.ID()}
				f.target.Options["instance_id_from"] = "asset-field"
				return f.inst
			},
		},
		{
			name: "instance_id_from asset-field refuses a value that is not an instance ID",
			setup: func(_ *testing.T, f *fixture) *ssmlab.Instance {
				f.target.Asset.Labels = map[string]string{"instance_id": "web1; reboot"}
				f.target.Options["instance_id_from"] = "asset-field"
				return nil
			},
			wantErr: []string{`labels.instance_id is "web1; reboot", not an instance ID`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			want := tc.setup(t, f)
			sess, err := newTestDriver().Open(context.Background(), f.target, f.creds)
			if want == nil {
				if err == nil {
					t.Fatal("Open succeeded")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Open error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := sess.(*session).instanceID; got != want.ID() {
				t.Errorf("the session reaches %s, want %s", got, want.ID())
			}
			if f.target.Options["instance_id_from"] == "asset-field" {
				for _, r := range f.svc.Requests() {
					if r.Operation == "DescribeInstances" {
						t.Error("Open asked EC2 although the asset names the instance")
					}
				}
			}
		})
	}
}

func TestTheSeveralInstancesErrorListsTheirIDs(t *testing.T) {
	f := newFixture(t)
	other := addInstance(t, f.svc, "web1", "web1.example.test")
	_, err := newTestDriver().Open(context.Background(), f.target, f.creds)
	if err == nil {
		t.Fatal("Open succeeded with two instances named web1")
	}
	for _, id := range []string{f.inst.ID(), other.ID()} {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("error %q does not name instance %s", err, id)
		}
	}
}

func TestNameTagTemplates(t *testing.T) {
	a := asset.Asset{SystemName: "web1.dc1.example.com", CommonName: "www.example.com", DataCenter: "dc1"}
	for _, tc := range []struct {
		name, template, want string
	}{
		{"the default is the first label of system_name, as Ottr did", defaultNameTag, "web1"},
		{"the whole system_name", "{{.SystemName}}", "web1.dc1.example.com"},
		{"fields combine", "{{.DataCenter}}-{{.ShortName}}", "dc1-web1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := parseNameTag(tc.template)
			if err != nil {
				t.Fatal(err)
			}
			got, err := nameTag(tmpl, a)
			if err != nil || got != tc.want {
				t.Errorf("nameTag(%q) = %q, %v; want %q", tc.template, got, err, tc.want)
			}
		})
	}
}
