package ssm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ottr-go/ottr/internal/driver"
)

// awsClient is the driver's typed client for the AWS calls it makes:
// EC2 DescribeInstances to find an instance by its Name tag, SSM
// SendCommand, GetCommandInvocation and CancelCommand to run scripts on it,
// and DescribeInstanceInformation to see its agent (Check).
type awsClient struct {
	ssm    *awsssm.Client
	ec2    *ec2Client
	region string
}

// maxAttempts bounds the SDK's own retries of throttled or failed calls.
const maxAttempts = 4

// newAWSClient builds the SSM and EC2 clients for a route: static
// credentials when c has an access key, the SDK's default chain (the
// environment, shared files, the instance role) otherwise; the route's
// endpoint and ca_file when set.
func newAWSClient(ctx context.Context, o *options, c driver.Credentials, httpTimeout time.Duration) (*awsClient, error) {
	var pool *x509.CertPool
	if o.CAFile != "" {
		var err error
		if pool, err = loadRoots(o.CAFile); err != nil {
			return nil, err
		}
	}
	// The default chain adds AWS_CA_BUNDLE to a BuildableClient only. The
	// credential providers it makes (instance role, SSO, assumed roles)
	// keep that client to reach AWS; the SSM and EC2 calls to the route's
	// endpoint go through the drivers' client below.
	buildable := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.MinVersion = tls.VersionTLS12
		if pool != nil {
			tr.TLSClientConfig.RootCAs = pool
		}
	})

	var cfg aws.Config
	switch {
	case c.Username != "" && c.Password == "":
		return nil, errors.New("credentials: an access key ID without its secret access key (the password)")
	case c.Username == "" && c.Password != "":
		return nil, errors.New("credentials: a secret access key (the password) without its access key ID (the username)")
	case c.Username != "":
		cfg = aws.Config{
			Region:      o.Region,
			Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(c.Username, c.Password, "")),
			Retryer:     newRetryer,
		}
	default:
		var err error
		cfg, err = awsconfig.LoadDefaultConfig(ctx,
			awsconfig.WithRegion(o.Region),
			awsconfig.WithHTTPClient(buildable),
			awsconfig.WithRetryer(newRetryer))
		if err != nil {
			return nil, fmt.Errorf("credentials: the default AWS credential chain: %w", err)
		}
		if b, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
			buildable = b
		}
	}
	// The SDK's own client follows 307 and 308 to any host, sending the
	// signed request again: SSM and EC2 get the drivers' client over the
	// SDK's transport instead.
	cfg.HTTPClient = driver.NewHTTPClient(buildable.GetTransport(), httpTimeout)
	ec2API, err := newEC2Client(cfg, o.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("ec2 endpoint: %w", err)
	}
	return &awsClient{
		ssm: awsssm.NewFromConfig(cfg, func(opts *awsssm.Options) {
			if o.Endpoint != "" {
				opts.BaseEndpoint = aws.String(o.Endpoint)
			}
		}),
		ec2:    ec2API,
		region: o.Region,
	}, nil
}

// newRetryer is the SDK's standard retryer, which retries throttling,
// server and connection errors with backoff, except that a certificate
// that does not verify and a redirect are final: trying again only delays
// the error.
func newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(finalError)}, o.Retryables...)
	})
}

// finalError says "do not retry" for TLS certificate failures and for
// redirects, which the SDK would otherwise retry as failures to send.
func finalError(err error) aws.Ternary {
	var verifyErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var redirect *driver.RedirectError
	if errors.As(err, &verifyErr) || errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &redirect) {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}

// loadRoots returns the system roots plus the certificates in file.
func loadRoots(file string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// runningInstanceByName returns the ID of the one running instance whose
// Name tag is name. None, or more than one, is an error naming the tag.
func (c *awsClient) runningInstanceByName(ctx context.Context, name string) (string, error) {
	instances, err := c.ec2.describeInstances(ctx, []ec2Filter{
		// EC2 filter values are wildcard patterns: escape them, so a
		// Name tag with "*" or "?" matches only itself.
		{name: "tag:Name", values: []string{escapeFilterValue(name)}},
		{name: "instance-state-name", values: []string{"running"}},
	})
	if err != nil {
		return "", fmt.Errorf("find the instance tagged Name=%q: %w", name, err)
	}
	var ids []string
	for _, inst := range instances {
		// The filters already did this; checking again keeps a lax
		// endpoint from handing over the wrong instance.
		if hasTag(inst.Tags, "Name", name) && inst.State == "running" && inst.ID != "" {
			ids = append(ids, inst.ID)
		}
	}
	sort.Strings(ids)
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("no running EC2 instance in %s has the tag Name=%q", c.region, name)
	case 1:
		return ids[0], nil
	default:
		return "", fmt.Errorf("%d running EC2 instances in %s have the tag Name=%q (%s): make the Name tag unique, "+
			"or set the route's name_tag, or instance_id_from %q", len(ids), c.region, name, strings.Join(ids, ", "), fromAssetField)
	}
}

func escapeFilterValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`).Replace(s)
}

func hasTag(tags []ec2Tag, key, value string) bool {
	for _, t := range tags {
		if t.Key == key && t.Value == value {
			return true
		}
	}
	return false
}

// sendCommand starts script on the instance with the route's document and
// returns the command ID. timeout bounds both the delivery and the run.
func (c *awsClient) sendCommand(ctx context.Context, instanceID, document, comment, script string, timeout time.Duration) (string, error) {
	seconds := int(timeout / time.Second)
	out, err := c.ssm.SendCommand(ctx, &awsssm.SendCommandInput{
		DocumentName: aws.String(document),
		InstanceIds:  []string{instanceID},
		Parameters: map[string][]string{
			"commands":         {script},
			"executionTimeout": {strconv.Itoa(seconds)},
		},
		TimeoutSeconds: aws.Int32(int32(seconds)),
		Comment:        aws.String(comment),
	})
	if err != nil {
		return "", fmt.Errorf("send command to %s: %w", instanceID, err)
	}
	if out.Command == nil || aws.ToString(out.Command.CommandId) == "" {
		return "", fmt.Errorf("send command to %s: the answer has no command ID", instanceID)
	}
	return *out.Command.CommandId, nil
}

// invocation is what GetCommandInvocation reports of one command.
type invocation struct {
	Status        string
	StatusDetails string
	ResponseCode  int
	Stdout        string
	Stderr        string
}

// errNotYetVisible is GetCommandInvocation's InvocationDoesNotExist, which
// AWS answers for a while after SendCommand: poll again.
var errNotYetVisible = errors.New("the invocation is not visible yet")

// commandInvocation returns the command's invocation on the instance.
func (c *awsClient) commandInvocation(ctx context.Context, commandID, instanceID string) (*invocation, error) {
	out, err := c.ssm.GetCommandInvocation(ctx, &awsssm.GetCommandInvocationInput{
		CommandId:  aws.String(commandID),
		InstanceId: aws.String(instanceID),
	})
	var notYet *ssmtypes.InvocationDoesNotExist
	switch {
	case errors.As(err, &notYet):
		return nil, errNotYetVisible
	case err != nil:
		return nil, fmt.Errorf("get command invocation %s: %w", commandID, err)
	}
	return &invocation{
		Status:        string(out.Status),
		StatusDetails: aws.ToString(out.StatusDetails),
		ResponseCode:  int(out.ResponseCode),
		Stdout:        aws.ToString(out.StandardOutputContent),
		Stderr:        aws.ToString(out.StandardErrorContent),
	}, nil
}

// cancelCommand asks SSM to stop the command on the instance.
func (c *awsClient) cancelCommand(ctx context.Context, commandID, instanceID string) error {
	_, err := c.ssm.CancelCommand(ctx, &awsssm.CancelCommandInput{
		CommandId:   aws.String(commandID),
		InstanceIds: []string{instanceID},
	})
	if err != nil {
		return fmt.Errorf("cancel command %s: %w", commandID, err)
	}
	return nil
}

// agent is what DescribeInstanceInformation says of an instance's SSM
// agent.
type agent struct {
	PingStatus      string
	AgentVersion    string
	PlatformName    string
	PlatformVersion string
}

// instanceAgent returns the instance's agent as SSM sees it, or nil when
// SSM lists no running managed node with that ID.
func (c *awsClient) instanceAgent(ctx context.Context, instanceID string) (*agent, error) {
	out, err := c.ssm.DescribeInstanceInformation(ctx, &awsssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{instanceID}}},
	})
	if err != nil {
		return nil, fmt.Errorf("describe instance information of %s: %w", instanceID, err)
	}
	for _, info := range out.InstanceInformationList {
		if aws.ToString(info.InstanceId) == instanceID {
			return &agent{
				PingStatus:      string(info.PingStatus),
				AgentVersion:    aws.ToString(info.AgentVersion),
				PlatformName:    aws.ToString(info.PlatformName),
				PlatformVersion: aws.ToString(info.PlatformVersion),
			}, nil
		}
	}
	return nil, nil
}
