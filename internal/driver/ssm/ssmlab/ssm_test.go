package ssmlab

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

const (
	testKeyID  = "AKIAOTTRLABEMULATOR1"
	testSecret = "emulator-secret/0123456789abcdefghij"
)

// endpoint is a started emulator with SDK clients signed by its key.
type endpoint struct {
	// dir holds the instances' directories. It is made before the
	// endpoint starts, so it is removed after the endpoint has stopped
	// its commands (cleanups run last first).
	dir  string
	svc  *Service
	http *http.Client
	ssm  *awsssm.Client
	ec2  *ec2.Client
}

func newEndpoint(t *testing.T, cfg Config) *endpoint {
	t.Helper()
	dir := t.TempDir()
	cfg.AccessKeyID, cfg.SecretAccessKey = testKeyID, testSecret
	svc, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(svc.CertificatePEM())
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	awsCfg := aws.Config{
		Region:      svc.Region(),
		HTTPClient:  httpClient,
		Credentials: credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		Retryer:     connectionRaceRetryer,
	}
	return &endpoint{
		dir:  dir,
		svc:  svc,
		http: httpClient,
		ssm:  awsssm.NewFromConfig(awsCfg, func(o *awsssm.Options) { o.BaseEndpoint = aws.String(svc.Endpoint()) }),
		ec2:  ec2.NewFromConfig(awsCfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(svc.Endpoint()) }),
	}
}

// connectionRaceRetryer sends a request once more only when the SDK lost
// the connection to its own race: it closes a request body that the HTTP
// transport may still be reading, and the transport then closes the
// connection under the response ("use of closed network connection",
// aws-sdk-go-v2 #2737). The SDK's default retryer, which ottr's driver
// keeps, retries that too; every other error is the emulator's answer and
// is seen as it came.
func connectionRaceRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 2
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.Retryables = []retry.IsErrorRetryable{retry.RetryableConnectionError{}}
	})
}

func (e *endpoint) addInstance(t *testing.T, cfg InstanceConfig) *Instance {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(e.dir, cfg.Name+"-"+strconv.Itoa(len(e.svc.Instances())))
	}
	inst, err := e.svc.AddInstance(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func (e *endpoint) send(t *testing.T, inst *Instance, script string) string {
	t.Helper()
	out, err := e.ssm.SendCommand(context.Background(), &awsssm.SendCommandInput{
		DocumentName: aws.String(RunShellScript),
		InstanceIds:  []string{inst.ID()},
		Parameters:   map[string][]string{"commands": {script}},
	})
	if err != nil {
		t.Fatalf("SendCommand: %v", err)
	}
	if got := out.Command.Status; got != ssmtypes.CommandStatusPending {
		t.Errorf("SendCommand answered status %s, want Pending", got)
	}
	return *out.Command.CommandId
}

func (e *endpoint) poll(inst *Instance, id string) (*awsssm.GetCommandInvocationOutput, error) {
	return e.ssm.GetCommandInvocation(context.Background(), &awsssm.GetCommandInvocationInput{
		CommandId: aws.String(id), InstanceId: aws.String(inst.ID()),
	})
}

// finish polls until the invocation reaches a final status.
func (e *endpoint) finish(t *testing.T, inst *Instance, id string) *awsssm.GetCommandInvocationOutput {
	t.Helper()
	for {
		out, err := e.poll(inst, id)
		var notYet *ssmtypes.InvocationDoesNotExist
		switch {
		case errors.As(err, &notYet):
		case err != nil:
			t.Fatalf("GetCommandInvocation: %v", err)
		case out.Status != ssmtypes.CommandInvocationStatusPending && out.Status != ssmtypes.CommandInvocationStatusInProgress &&
			out.Status != ssmtypes.CommandInvocationStatusCancelling:
			return out
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCommandsRunAsynchronouslyAndAreSeenLate(t *testing.T) {
	e := newEndpoint(t, Config{})
	inst := e.addInstance(t, InstanceConfig{Name: "web1"})
	id := e.send(t, inst, "echo hello\necho to-stderr >&2")

	var notYet *ssmtypes.InvocationDoesNotExist
	if _, err := e.poll(inst, id); !errors.As(err, &notYet) {
		t.Fatalf("the first poll = %v, want InvocationDoesNotExist", err)
	}
	if out, err := e.poll(inst, id); err != nil || out.Status != ssmtypes.CommandInvocationStatusInProgress {
		t.Fatalf("the second poll = %v, %v; want InProgress", out, err)
	}
	out := e.finish(t, inst, id)
	if out.Status != ssmtypes.CommandInvocationStatusSuccess || out.ResponseCode != 0 {
		t.Errorf("status %s, response code %d; want Success, 0", out.Status, out.ResponseCode)
	}
	if got := aws.ToString(out.StandardOutputContent); got != "hello\n" {
		t.Errorf("stdout = %q", got)
	}
	if got := aws.ToString(out.StandardErrorContent); got != "to-stderr\n" {
		t.Errorf("stderr = %q", got)
	}
	if aws.ToString(out.PluginName) != "aws:runShellScript" || aws.ToString(out.ExecutionEndDateTime) == "" {
		t.Errorf("plugin %q, end %q", aws.ToString(out.PluginName), aws.ToString(out.ExecutionEndDateTime))
	}
}

// An SDK that retries a poll whose answer it lost sends the request again
// with the same invocation ID: the retry is the same poll, so the delayed
// answers the test and the driver expect still come in order.
func TestARetriedPollIsTheSamePoll(t *testing.T) {
	e := newEndpoint(t, Config{})
	inst := e.addInstance(t, InstanceConfig{Name: "web1"})
	id := e.send(t, inst, "echo hello")
	pollAs := func(invocationID string) string {
		t.Helper()
		header := http.Header{
			"Content-Type":          {"application/x-amz-json-1.1"},
			"X-Amz-Target":          {"AmazonSSM.GetCommandInvocation"},
			"Amz-Sdk-Invocation-Id": {invocationID},
		}
		body := `{"CommandId":"` + id + `","InstanceId":"` + inst.ID() + `"}`
		_, answer := e.rawRequest(t, "ssm", "us-east-1", testSecret, time.Now(), header, body, nil)
		var got struct{ Status, Message string }
		if err := json.Unmarshal(answer, &got); err != nil {
			t.Fatalf("not JSON: %s", answer)
		}
		if got.Status == "" {
			return "error: " + got.Message
		}
		return got.Status
	}
	first := pollAs("poll-1")
	if again := pollAs("poll-1"); again != first || !strings.Contains(first, "did not match any invocations") {
		t.Errorf("the first poll answered %q and its retry %q; want InvocationDoesNotExist both times", first, again)
	}
	if second := pollAs("poll-2"); second != string(ssmtypes.CommandInvocationStatusInProgress) {
		t.Errorf("the second poll answered %q, want InProgress", second)
	}
}

func TestAFailedScriptReportsItsExitCodeAsTheAgentDoes(t *testing.T) {
	e := newEndpoint(t, Config{DelayedPolls: -1})
	inst := e.addInstance(t, InstanceConfig{Name: "web1"})
	out := e.finish(t, inst, e.send(t, inst, "echo 'openssl: bad key' >&2; exit 3"))
	if out.Status != ssmtypes.CommandInvocationStatusFailed || out.ResponseCode != 3 {
		t.Errorf("status %s, response code %d; want Failed, 3", out.Status, out.ResponseCode)
	}
	if got := aws.ToString(out.StandardErrorContent); got != "openssl: bad key\nfailed to run commands: exit status 3\n" {
		t.Errorf("stderr = %q", got)
	}
}

func TestSendCommandRefusesWhatAWSRefuses(t *testing.T) {
	e := newEndpoint(t, Config{})
	running := e.addInstance(t, InstanceConfig{Name: "web1"})
	stopped := e.addInstance(t, InstanceConfig{Name: "web2", State: StateStopped})
	for _, tc := range []struct {
		name     string
		input    awsssm.SendCommandInput
		wantCode string
	}{
		{"a stopped instance", awsssm.SendCommandInput{
			DocumentName: aws.String(RunShellScript), InstanceIds: []string{stopped.ID()},
			Parameters: map[string][]string{"commands": {"true"}}}, "InvalidInstanceId"},
		{"an unknown instance", awsssm.SendCommandInput{
			DocumentName: aws.String(RunShellScript), InstanceIds: []string{"i-0123456789abcdef0"},
			Parameters: map[string][]string{"commands": {"true"}}}, "InvalidInstanceId"},
		{"an unknown document", awsssm.SendCommandInput{
			DocumentName: aws.String("AWS-RunPowerShellScript"), InstanceIds: []string{running.ID()},
			Parameters: map[string][]string{"commands": {"true"}}}, "InvalidDocument"},
		{"no commands", awsssm.SendCommandInput{
			DocumentName: aws.String(RunShellScript), InstanceIds: []string{running.ID()}}, "InvalidParameters"},
		{"a parameter the document lacks", awsssm.SendCommandInput{
			DocumentName: aws.String(RunShellScript), InstanceIds: []string{running.ID()},
			Parameters: map[string][]string{"commands": {"true"}, "shell": {"bash"}}}, "InvalidParameters"},
		{"a delivery timeout under 30 seconds", awsssm.SendCommandInput{
			DocumentName: aws.String(RunShellScript), InstanceIds: []string{running.ID()}, TimeoutSeconds: aws.Int32(5),
			Parameters: map[string][]string{"commands": {"true"}}}, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ssm.SendCommand(context.Background(), &tc.input)
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.wantCode {
				t.Errorf("SendCommand error = %v, want %s", err, tc.wantCode)
			}
		})
	}
	if running.Commands()+stopped.Commands() != 0 {
		t.Error("a refused command ran")
	}
}

func TestCancelCommandStopsTheScript(t *testing.T) {
	e := newEndpoint(t, Config{DelayedPolls: -1})
	inst := e.addInstance(t, InstanceConfig{Name: "web1"})
	id := e.send(t, inst, "touch started; sleep 60; touch finished")
	started := inst.LocalPath(DefaultPathPrefix + "/started")
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := e.ssm.CancelCommand(context.Background(), &awsssm.CancelCommandInput{CommandId: aws.String(id)}); err != nil {
		t.Fatalf("CancelCommand: %v", err)
	}
	out := e.finish(t, inst, id)
	if out.Status != ssmtypes.CommandInvocationStatusCancelled {
		t.Errorf("status %s, want Cancelled", out.Status)
	}
	if _, err := os.Stat(inst.LocalPath(DefaultPathPrefix + "/finished")); !errors.Is(err, os.ErrNotExist) {
		t.Error("the script went on after CancelCommand")
	}
}

func TestOutputIsCutAt24000Characters(t *testing.T) {
	e := newEndpoint(t, Config{DelayedPolls: -1})
	inst := e.addInstance(t, InstanceConfig{Name: "web1"})
	out := e.finish(t, inst, e.send(t, inst, "i=0; while [ $i -lt 3000 ]; do echo 0123456789; i=$((i+1)); done"))
	if got := len(aws.ToString(out.StandardOutputContent)); got != 24000 {
		t.Errorf("stdout holds %d characters, want 24000", got)
	}
}

func TestScriptsSeeTheInstanceDirectoryUnderThePrefix(t *testing.T) {
	e := newEndpoint(t, Config{DelayedPolls: -1})
	inst := e.addInstance(t, InstanceConfig{Name: "web1"})
	out := e.finish(t, inst, e.send(t, inst, "echo hi > /ottr-lab/note.txt && ls /ottr-lab/note.txt"))
	if got := aws.ToString(out.StandardOutputContent); got != "/ottr-lab/note.txt\n" {
		t.Errorf("stdout = %q, want the path as the command named it", got)
	}
	if b, err := os.ReadFile(filepath.Join(inst.cfg.Dir, "note.txt")); err != nil || string(b) != "hi\n" {
		t.Errorf("note.txt in the instance's directory: %q, %v", b, err)
	}
}

func TestTheReloadCommandLoadsTheFilesOrFailsLikeNginx(t *testing.T) {
	e := newEndpoint(t, Config{DelayedPolls: -1})
	inst := e.addInstance(t, InstanceConfig{Name: "web1"})
	for _, tc := range []struct {
		name       string
		script     string
		fail       bool
		wantStatus ssmtypes.CommandInvocationStatus
		wantStderr string
	}{
		{"reloads", "systemctl reload nginx", false, ssmtypes.CommandInvocationStatusSuccess, ""},
		{"reloads inside a command substitution", `out=$(systemctl reload nginx 2>&1) && echo "[$out]"`, false, ssmtypes.CommandInvocationStatusSuccess, ""},
		{"fails while FailInstalls is set", "systemctl reload nginx", true, ssmtypes.CommandInvocationStatusFailed, failureMessage},
		{"knows no other unit command", "systemctl restart nginx", false, ssmtypes.CommandInvocationStatusFailed, `only runs "systemctl reload nginx"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := inst.Reloads()
			inst.FailInstalls(tc.fail)
			out := e.finish(t, inst, e.send(t, inst, tc.script))
			inst.FailInstalls(false)
			if out.Status != tc.wantStatus {
				t.Errorf("status %s, want %s (stderr %q)", out.Status, tc.wantStatus, aws.ToString(out.StandardErrorContent))
			}
			if !strings.Contains(aws.ToString(out.StandardErrorContent), tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", aws.ToString(out.StandardErrorContent), tc.wantStderr)
			}
			if reloaded := inst.Reloads() > before; reloaded != (tc.wantStatus == ssmtypes.CommandInvocationStatusSuccess) {
				t.Errorf("reloaded: %v", reloaded)
			}
		})
	}
}

func TestPrivateKeyExportedNoticesAKeyInTheOutput(t *testing.T) {
	e := newEndpoint(t, Config{DelayedPolls: -1})
	inst := e.addInstance(t, InstanceConfig{Name: "web1"})
	e.finish(t, inst, e.send(t, inst, "head -c 1 /ottr-lab/"+DefaultKeyPath))
	if inst.PrivateKeyExported() {
		t.Fatal("PrivateKeyExported is set by output without a key")
	}
	e.finish(t, inst, e.send(t, inst, "cat /ottr-lab/"+DefaultKeyPath))
	if !inst.PrivateKeyExported() {
		t.Error("PrivateKeyExported is not set after the key was printed")
	}
}

func TestDescribeInstancesFiltersByTagAndState(t *testing.T) {
	e := newEndpoint(t, Config{})
	web1 := e.addInstance(t, InstanceConfig{Name: "web1"})
	e.addInstance(t, InstanceConfig{Name: "web1", State: StateStopped})
	e.addInstance(t, InstanceConfig{Name: "web12"})
	star := e.addInstance(t, InstanceConfig{Name: "web*"})

	find := func(name string) []string {
		t.Helper()
		out, err := e.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
			{Name: aws.String("tag:Name"), Values: []string{name}},
			{Name: aws.String("instance-state-name"), Values: []string{"running"}},
		}})
		if err != nil {
			t.Fatalf("DescribeInstances: %v", err)
		}
		var ids []string
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				ids = append(ids, aws.ToString(i.InstanceId))
			}
		}
		return ids
	}
	if got := find("web1"); len(got) != 1 || got[0] != web1.ID() {
		t.Errorf("running web1 = %v, want [%s]", got, web1.ID())
	}
	if got := find("web*"); len(got) != 3 {
		t.Errorf("web* matches %v, want the three running instances", got)
	}
	if got := find(`web\*`); len(got) != 1 || got[0] != star.ID() {
		t.Errorf(`web\* = %v, want [%s] alone`, got, star.ID())
	}
	if got := find("db?"); len(got) != 0 {
		t.Errorf("db? = %v, want none", got)
	}

	_, err := e.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("flavour"), Values: []string{"x"}},
	}})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidParameterValue" {
		t.Errorf("an unknown filter = %v, want InvalidParameterValue", err)
	}
}

func TestDescribeInstancesPages(t *testing.T) {
	e := newEndpoint(t, Config{})
	for range 7 {
		e.addInstance(t, InstanceConfig{Name: "node"})
	}
	pages := ec2.NewDescribeInstancesPaginator(e.ec2, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	var n, count int
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n++
		count += len(page.Reservations)
	}
	if n != 2 || count != 7 {
		t.Errorf("%d pages with %d instances, want 2 pages with 7", n, count)
	}
}

// rawRequest signs a request to the endpoint with the v4 signer, then lets
// tamper change it, and returns the answer's status and body.
func (e *endpoint) rawRequest(t *testing.T, service, region, secret string, signedAt time.Time, header http.Header, body string,
	tamper func(*http.Request)) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.svc.Endpoint()+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	hash := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: secret}
	if secret != "" {
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(hash[:]), service, region, signedAt); err != nil {
			t.Fatal(err)
		}
	}
	if tamper != nil {
		tamper(req)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestBadSignaturesAreRefusedInEachProtocolsErrorShape(t *testing.T) {
	e := newEndpoint(t, Config{})
	inst := e.addInstance(t, InstanceConfig{Name: "web1"})
	ssmHeader := http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {"AmazonSSM.SendCommand"}}
	ssmBody := `{"DocumentName":"AWS-RunShellScript","InstanceIds":["` + inst.ID() + `"],"Parameters":{"commands":["touch ran"]}}`
	ec2Header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	ec2Body := "Action=DescribeInstances&Version=2016-11-15"
	now := time.Now()

	for _, tc := range []struct {
		name     string
		ec2      bool
		secret   string
		region   string
		at       time.Time
		tamper   func(*http.Request)
		status   int
		wantCode string
	}{
		{name: "SSM accepts a good signature", secret: testSecret, region: "us-east-1", at: now, status: 200},
		{name: "SSM refuses a signature made with another secret", secret: "not-the-secret", region: "us-east-1", at: now,
			status: 400, wantCode: "InvalidSignatureException"},
		{name: "SSM refuses a body changed after signing", secret: testSecret, region: "us-east-1", at: now,
			tamper: func(r *http.Request) {
				// Same length, so only the content differs.
				tampered := strings.Replace(ssmBody, "touch ran", "rm -rf ./", 1)
				r.Body, r.GetBody = io.NopCloser(strings.NewReader(tampered)), nil
			}, status: 400, wantCode: "InvalidSignatureException"},
		{name: "SSM refuses a signed header changed after signing", secret: testSecret, region: "us-east-1", at: now,
			tamper: func(r *http.Request) { r.Header.Set("X-Amz-Target", "AmazonSSM.CancelCommand") },
			status: 400, wantCode: "InvalidSignatureException"},
		{name: "SSM refuses an unsigned request", status: 400, at: now, wantCode: "MissingAuthenticationTokenException"},
		{name: "SSM refuses a signature scoped to another region", secret: testSecret, region: "eu-west-1", at: now,
			status: 400, wantCode: "InvalidSignatureException"},
		{name: "SSM refuses a signature from twenty minutes ago", secret: testSecret, region: "us-east-1", at: now.Add(-20 * time.Minute),
			status: 400, wantCode: "InvalidSignatureException"},
		{name: "EC2 accepts a good signature", ec2: true, secret: testSecret, region: "us-east-1", at: now, status: 200},
		{name: "EC2 refuses a signature made with another secret", ec2: true, secret: "not-the-secret", region: "us-east-1", at: now,
			status: 403, wantCode: "SignatureDoesNotMatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header, body, service := ssmHeader, ssmBody, "ssm"
			if tc.ec2 {
				header, body, service = ec2Header, ec2Body, "ec2"
			}
			status, answer := e.rawRequest(t, service, tc.region, tc.secret, tc.at, header, body, tc.tamper)
			if status != tc.status {
				t.Errorf("status %d, want %d: %s", status, tc.status, answer)
			}
			if tc.wantCode == "" {
				return
			}
			var code, message string
			if tc.ec2 {
				var x struct {
					Errors []struct{ Code, Message string } `xml:"Errors>Error"`
				}
				if err := xml.Unmarshal(answer, &x); err != nil || len(x.Errors) != 1 {
					t.Fatalf("not EC2's error XML: %s (%v)", answer, err)
				}
				code, message = x.Errors[0].Code, x.Errors[0].Message
			} else {
				var j struct {
					Type    string `json:"__type"`
					Message string `json:"message"`
				}
				if err := json.Unmarshal(answer, &j); err != nil {
					t.Fatalf("not AWS's JSON error: %s (%v)", answer, err)
				}
				code, message = j.Type, j.Message
			}
			if code != tc.wantCode || message == "" {
				t.Errorf("error %q %q, want code %s with a message", code, message, tc.wantCode)
			}
		})
	}
	if got := e.svc.SendCommandCalls(); got != 1 {
		t.Errorf("%d SendCommand calls were accepted, want only the well-signed one", got)
	}
}

func TestWildcardMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"web1", "web1", true},
		{"web1", "web12", false},
		{"web*", "web12", true},
		{"web*", "web", true},
		{"w?b1", "web1", true},
		{"w?b1", "wb1", false},
		{`web\*`, "web*", true},
		{`web\*`, "web1", false},
		{`a\?`, "a?", true},
		{`a\\b`, `a\b`, true},
		{"*", "", true},
	} {
		if got := wildcardMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestDescribeInstanceInformationReportsRunningInstancesOnline(t *testing.T) {
	e := newEndpoint(t, Config{})
	web1 := e.addInstance(t, InstanceConfig{Name: "web1"})
	stopped := e.addInstance(t, InstanceConfig{Name: "web2", State: StateStopped})
	ctx := context.Background()

	out, err := e.ssm.DescribeInstanceInformation(ctx, &awsssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{web1.ID()}}},
	})
	if err != nil {
		t.Fatalf("DescribeInstanceInformation: %v", err)
	}
	if len(out.InstanceInformationList) != 1 {
		t.Fatalf("got %d nodes, want web1 alone", len(out.InstanceInformationList))
	}
	info := out.InstanceInformationList[0]
	if aws.ToString(info.InstanceId) != web1.ID() || info.PingStatus != ssmtypes.PingStatusOnline || info.PlatformType != ssmtypes.PlatformTypeLinux ||
		aws.ToString(info.AgentVersion) == "" || aws.ToString(info.PlatformName) == "" || info.ResourceType != ssmtypes.ResourceTypeEc2Instance {
		t.Errorf("web1's information = %+v", info)
	}

	// AWS leaves out stopped nodes, and refuses IDs it does not know.
	out, err = e.ssm.DescribeInstanceInformation(ctx, &awsssm.DescribeInstanceInformationInput{
		InstanceInformationFilterList: []ssmtypes.InstanceInformationFilter{{Key: ssmtypes.InstanceInformationFilterKeyInstanceIds, ValueSet: []string{stopped.ID()}}},
	})
	if err != nil || len(out.InstanceInformationList) != 0 {
		t.Errorf("a stopped instance: %+v, %v; want none listed", out, err)
	}
	_, err = e.ssm.DescribeInstanceInformation(ctx, &awsssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{"i-0123456789abcdef0"}}},
	})
	var invalid *ssmtypes.InvalidInstanceId
	if !errors.As(err, &invalid) {
		t.Errorf("an unknown instance ID: %v, want InvalidInstanceId", err)
	}

	// Pages of MaxResults follow NextToken.
	for range 6 {
		e.addInstance(t, InstanceConfig{Name: "fleet"})
	}
	var seen int
	pages := awsssm.NewDescribeInstanceInformationPaginator(e.ssm, &awsssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(5)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(page.InstanceInformationList)
	}
	if seen != 7 {
		t.Errorf("the pages listed %d nodes, want the 7 running", seen)
	}
}

func TestCallsNameTheRequestsAndTheScriptsPrograms(t *testing.T) {
	e := newEndpoint(t, Config{RecordRequests: true})
	inst := e.addInstance(t, InstanceConfig{Name: "web1"})
	id := e.send(t, inst, "set -e\n[ -d d ] || mkdir -p -- d\nv=$(openssl version)\nsystemctl reload nginx")
	e.finish(t, inst, id)
	if _, err := e.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(e.svc.Calls(), "|")
	if !strings.HasPrefix(got, "ssm:SendCommand|AWS-RunShellScript: mkdir|AWS-RunShellScript: openssl version|AWS-RunShellScript: reload_command|ssm:GetCommandInvocation|") ||
		!strings.HasSuffix(got, "|ec2:DescribeInstances") {
		t.Errorf("Calls() = %s", got)
	}
}
