package browsertest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestTheRouteTesterGivesTheRouteOfTheFieldsTypedIn(t *testing.T) {
	srv := startServer(t)
	ctx := newBrowser(t, 1280, 900)
	login(t, ctx, srv.url, "dev")
	device := theLab.Assets[hostDue]
	// The lab routes each platform by its name alone.
	var want string
	for i, r := range srv.app.Routes.Routes() {
		if r.Match.Platform == device.HostPlatform {
			want = fmt.Sprintf("takes route %d %s", i, r.Name)
			break
		}
	}
	if want == "" {
		t.Fatalf("the lab has no route for %s", device.HostPlatform)
	}
	tests := []struct {
		name, platform, want string
	}{
		{"a lab platform takes its route", device.HostPlatform, "new.lab.ottr.test " + want},
		{"a platform no route takes is told so", "no-such-os", "No route takes new.lab.ottr.test: it would never be rotated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step(t, ctx, "fill in the tester",
				chromedp.Navigate(srv.url+"/ui/routes"),
				chromedp.WaitVisible(chromedp.CSS("#f-system_name")),
				chromedp.SendKeys(chromedp.CSS("#f-system_name"), "new.lab.ottr.test"),
				chromedp.SendKeys(chromedp.CSS("#f-host_platform"), tt.platform),
				chromedp.SendKeys(chromedp.CSS("#f-data_center"), "dc1"),
				chromedp.Click(chromedp.CSS(`form[action="/ui/routes#tester"] button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.CSS("#result")),
			)
			got := strings.Join(strings.Fields(read(t, ctx, "read the verdict", chromedp.Text(chromedp.CSS("#result")))), " ")
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("the tester says %q, want %q", got, tt.want)
			}
		})
	}
	screenshot(t, ctx, "routes")
}
