package ssm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"
)

// newFixtureClient builds the AWS client Open would build for f's route.
func newFixtureClient(t *testing.T, f *fixture) *awsClient {
	t.Helper()
	opts, err := parseOptions(f.target.Options)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newAWSClient(context.Background(), opts, f.creds, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDescribeInstancesIsASignedQueryPOST(t *testing.T) {
	f := newFixture(t)
	if _, err := newFixtureClient(t, f).runningInstanceByName(context.Background(), "web?"); err == nil {
		t.Fatal("found an instance named web?")
	}
	var calls int
	for _, r := range f.svc.Requests() {
		if r.Operation != "DescribeInstances" {
			continue
		}
		calls++
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			t.Errorf("DescribeInstances is a %s of %q, want a form POST", r.Method, r.Header.Get("Content-Type"))
		}
		if !strings.Contains(r.Header.Get("Authorization"), "/us-east-1/ec2/aws4_request") {
			t.Errorf("DescribeInstances is not signed for ec2 in us-east-1: %q", r.Header.Get("Authorization"))
		}
		form, err := url.ParseQuery(string(r.Body))
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{
			"Action": "DescribeInstances", "Version": "2016-11-15",
			"Filter.1.Name": "tag:Name", "Filter.1.Value.1": `web\?`,
			"Filter.2.Name": "instance-state-name", "Filter.2.Value.1": "running",
		} {
			if got := form.Get(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
	}
	if calls != 1 {
		t.Errorf("%d DescribeInstances calls, want 1", calls)
	}
}

func TestDescribeInstancesFollowsNextToken(t *testing.T) {
	f := newFixture(t)
	want := []string{f.inst.ID()}
	for range 5 {
		want = append(want, addInstance(t, f.svc, "web1", "web1.example.test").ID())
	}
	c := newFixtureClient(t, f)
	c.ec2.pageSize = 5 // EC2's smallest page: six instances take two
	_, err := c.runningInstanceByName(context.Background(), "web1")
	if err == nil || !strings.Contains(err.Error(), "6 running EC2 instances") {
		t.Fatalf("error = %v, want one counting the six instances of both pages", err)
	}
	for _, id := range want {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("error %q does not name %s", err, id)
		}
	}
	var tokens []string
	for _, r := range f.svc.Requests() {
		if r.Operation == "DescribeInstances" {
			form, _ := url.ParseQuery(string(r.Body))
			tokens = append(tokens, form.Get("NextToken"))
		}
	}
	if len(tokens) != 2 || tokens[0] != "" || tokens[1] == "" {
		t.Errorf("NextToken of each call = %q, want none, then the first page's", tokens)
	}
}

// answer is one canned HTTP answer.
type answer struct {
	status int
	body   string
}

// fakeEC2 gives its answers in turn, repeating the last.
type fakeEC2 struct {
	mu      sync.Mutex
	answers []answer
	calls   int
}

func (f *fakeEC2) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.answers[min(f.calls, len(f.answers)-1)]
	f.calls++
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

func (f *fakeEC2) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

const oneInstanceXML = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r1</requestId>
  <reservationSet><item><reservationId>r-1</reservationId><instancesSet><item>
    <instanceId>i-0123456789abcdef0</instanceId>
    <instanceState><code>16</code><name>running</name></instanceState>
    <tagSet><item><key>Env</key><value>prod</value></item><item><key>Name</key><value>web1</value></item></tagSet>
  </item></instancesSet></item></reservationSet>
</DescribeInstancesResponse>`

func ec2ErrorXML(code, message string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>` + code +
		`</Code><Message>` + message + `</Message></Error></Errors><RequestID>req-7</RequestID></Response>`
}

// newFakeEC2Client points an EC2 caller at fake, retrying without delay.
func newFakeEC2Client(t *testing.T, fake *fakeEC2) *awsClient {
	t.Helper()
	srv := httptest.NewTLSServer(fake)
	t.Cleanup(srv.Close)
	c, err := newEC2Client(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKeyID, testSecretAccessKey, ""),
		HTTPClient:  srv.Client(),
	}, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.newRetryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	}
	return &awsClient{ec2: c, region: "us-east-1"}
}

func TestDescribeInstancesAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers []answer
		// wantID is the instance found; wantErr the texts the error
		// must contain otherwise.
		wantID    string
		wantErr   []string
		wantCode  string
		wantCalls int
	}{
		{
			name:      "reads the instance ID, state and tags of the answer",
			answers:   []answer{{200, oneInstanceXML}},
			wantID:    "i-0123456789abcdef0",
			wantCalls: 1,
		},
		{
			name:      "retries a throttled call",
			answers:   []answer{{503, ec2ErrorXML("RequestLimitExceeded", "Request limit exceeded.")}, {200, oneInstanceXML}},
			wantID:    "i-0123456789abcdef0",
			wantCalls: 2,
		},
		{
			name:    "gives EC2's code and message, and does not retry a client error",
			answers: []answer{{400, ec2ErrorXML("UnauthorizedOperation", "You are not authorized to perform this operation.")}},
			wantErr: []string{
				"operation error EC2: DescribeInstances", "StatusCode: 400", "RequestID: req-7",
				"api error UnauthorizedOperation: You are not authorized to perform this operation.",
			},
			wantCode:  "UnauthorizedOperation",
			wantCalls: 1,
		},
		{
			name:      "gives up after the retryer's attempts",
			answers:   []answer{{503, ec2ErrorXML("Unavailable", "The service is unavailable.")}},
			wantErr:   []string{"exceeded maximum number of attempts, 4", "api error Unavailable"},
			wantCode:  "Unavailable",
			wantCalls: maxAttempts,
		},
		{
			name:      "an error answer that is not EC2's XML still gives the status",
			answers:   []answer{{400, "<html>bad gateway</html>"}},
			wantErr:   []string{"StatusCode: 400", "api error UnknownError: Bad Request"},
			wantCode:  "UnknownError",
			wantCalls: 1,
		},
		{
			name:      "a success answer that is not XML is a decoding error",
			answers:   []answer{{200, "not xml"}},
			wantErr:   []string{"deserialization failed", "failed to decode response body"},
			wantCalls: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeEC2{answers: tc.answers}
			id, err := newFakeEC2Client(t, fake).runningInstanceByName(context.Background(), "web1")
			if n := fake.callCount(); n != tc.wantCalls {
				t.Errorf("%d calls, want %d", n, tc.wantCalls)
			}
			if tc.wantID != "" {
				if err != nil || id != tc.wantID {
					t.Errorf("runningInstanceByName = %q, %v; want %s", id, err, tc.wantID)
				}
				return
			}
			if err == nil {
				t.Fatalf("runningInstanceByName found %s", id)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var apiErr smithy.APIError
			if tc.wantCode != "" && (!errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.wantCode) {
				t.Errorf("error %v does not unwrap to the API error %s", err, tc.wantCode)
			}
		})
	}
}

func TestTheEC2EndpointIsTheOneTheSDKWouldUse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		region string
		env    map[string]string
		want   string
	}{
		{name: "the regional endpoint", region: "eu-west-3", want: "https://ec2.eu-west-3.amazonaws.com"},
		{name: "the China partition's domain", region: "cn-north-1", want: "https://ec2.cn-north-1.amazonaws.com.cn"},
		{
			name: "AWS_ENDPOINT_URL_EC2", region: "us-east-1",
			env:  map[string]string{"AWS_ENDPOINT_URL_EC2": "https://ec2.internal.example"},
			want: "https://ec2.internal.example",
		},
		{
			name: "AWS_ENDPOINT_URL, for every service", region: "us-east-1",
			env:  map[string]string{"AWS_ENDPOINT_URL": "https://aws.internal.example"},
			want: "https://aws.internal.example",
		},
		{
			name: "the service's own URL before the shared one", region: "us-east-1",
			env:  map[string]string{"AWS_ENDPOINT_URL": "https://aws.internal.example", "AWS_ENDPOINT_URL_EC2": "https://ec2.internal.example"},
			want: "https://ec2.internal.example",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateAWSEnvironment(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(tc.region))
			if err != nil {
				t.Fatal(err)
			}
			c, err := newEC2Client(cfg, "")
			if err != nil {
				t.Fatal(err)
			}
			if c.endpoint != tc.want {
				t.Errorf("endpoint = %q, want %q", c.endpoint, tc.want)
			}
		})
	}
}

func TestAFIPSEndpointMustBeNamed(t *testing.T) {
	isolateAWSEnvironment(t)
	t.Setenv("AWS_USE_FIPS_ENDPOINT", "true")
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newEC2Client(cfg, ""); err == nil || !strings.Contains(err.Error(), "set the route's endpoint") {
		t.Errorf("newEC2Client with FIPS = %v, want an error asking for the endpoint", err)
	}
	if _, err := newEC2Client(cfg, "https://ec2-fips.us-east-1.amazonaws.com"); err != nil {
		t.Errorf("newEC2Client with FIPS and an endpoint: %v", err)
	}
}

// isolateAWSEnvironment keeps the machine's AWS settings out of a test.
func isolateAWSEnvironment(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"} {
		// Set, so the test restores it, then unset: the SDK tells an
		// empty variable from a missing one.
		t.Setenv(k, "")
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
}
