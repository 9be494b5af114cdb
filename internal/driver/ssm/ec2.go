package ssm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The EC2 side of the driver is one call, DescribeInstances, made over the
// EC2 Query protocol by hand: the SDK's EC2 package would double the size
// of the binary for it. Its errors have the types and text the SDK gives
// (smithy.OperationError around an HTTP response error around a
// smithy.APIError), so they read, unwrap and retry the same way as the SSM
// client's.

const (
	ec2APIVersion    = "2016-11-15"
	ec2SigningName   = "ec2"
	ec2ServiceID     = "EC2"
	describeAction   = "DescribeInstances"
	formContentType  = "application/x-www-form-urlencoded; charset=utf-8"
	ec2UserAgent     = "ottr linux-ssm"
	describePageSize = 1000 // EC2's largest MaxResults
	// maxEC2Response bounds the XML read from one answer; a full page of
	// instances is a few megabytes.
	maxEC2Response = 64 << 20
)

// ec2Client calls DescribeInstances on one EC2 endpoint.
type ec2Client struct {
	endpoint    string // https URL without a trailing slash
	region      string
	credentials aws.CredentialsProvider
	httpClient  aws.HTTPClient
	signer      *v4.Signer
	newRetryer  func() aws.Retryer
	now         func() time.Time
	// pageSize is the MaxResults of each request.
	pageSize int
}

// newEC2Client builds the EC2 caller from the configuration the SSM client
// is built from. endpoint is the route's endpoint option, if any.
func newEC2Client(cfg aws.Config, endpoint string) (*ec2Client, error) {
	if endpoint == "" {
		var err error
		if endpoint, err = configuredEC2Endpoint(cfg); err != nil {
			return nil, err
		}
	}
	return &ec2Client{
		endpoint:    strings.TrimSuffix(endpoint, "/"),
		region:      cfg.Region,
		credentials: cfg.Credentials,
		httpClient:  cfg.HTTPClient,
		signer:      v4.NewSigner(),
		newRetryer:  newRetryer,
		now:         time.Now,
		pageSize:    describePageSize,
	}, nil
}

// Optional interfaces of the SDK's configuration sources (the environment
// and the shared config file), as the SDK's own clients read them.
type (
	serviceEndpointSource interface {
		GetServiceBaseEndpoint(ctx context.Context, sdkID string) (string, bool, error)
	}
	ignoreEndpointsSource interface {
		GetIgnoreConfiguredEndpoints(ctx context.Context) (bool, bool, error)
	}
	fipsSource interface {
		GetUseFIPSEndpoint(ctx context.Context) (aws.FIPSEndpointState, bool, error)
	}
	dualStackSource interface {
		GetUseDualStackEndpoint(ctx context.Context) (aws.DualStackEndpointState, bool, error)
	}
)

// configuredEC2Endpoint is the endpoint the SDK's EC2 client would use
// when the route names none: AWS_ENDPOINT_URL_EC2 or the shared config's
// ec2 endpoint_url, else AWS_ENDPOINT_URL or the shared config's
// endpoint_url, else EC2's regional endpoint.
func configuredEC2Endpoint(cfg aws.Config) (string, error) {
	ctx := context.Background()
	endpoint := aws.ToString(cfg.BaseEndpoint)
	_, global := os.LookupEnv("AWS_ENDPOINT_URL")
	_, specific := os.LookupEnv("AWS_ENDPOINT_URL_EC2")
	if !global || specific {
		if s, ok := serviceEndpoint(ctx, cfg.ConfigSources); ok {
			endpoint = s
		}
	}
	if endpoint != "" {
		return endpoint, nil
	}
	for _, src := range cfg.ConfigSources {
		if p, ok := src.(fipsSource); ok {
			if state, found, err := p.GetUseFIPSEndpoint(ctx); err == nil && found && state == aws.FIPSEndpointStateEnabled {
				return "", errors.New("EC2 FIPS endpoints are not chosen automatically: set the route's endpoint")
			}
		}
		if p, ok := src.(dualStackSource); ok {
			if state, found, err := p.GetUseDualStackEndpoint(ctx); err == nil && found && state == aws.DualStackEndpointStateEnabled {
				return "", errors.New("EC2 dual-stack endpoints are not chosen automatically: set the route's endpoint")
			}
		}
	}
	return "https://ec2." + cfg.Region + "." + dnsSuffix(cfg.Region), nil
}

func serviceEndpoint(ctx context.Context, sources []any) (string, bool) {
	for _, src := range sources {
		if p, ok := src.(ignoreEndpointsSource); ok {
			if ignore, found, _ := p.GetIgnoreConfiguredEndpoints(ctx); found && ignore {
				return "", false
			}
		}
	}
	for _, src := range sources {
		if p, ok := src.(serviceEndpointSource); ok {
			if v, found, err := p.GetServiceBaseEndpoint(ctx, ec2ServiceID); err == nil && found {
				return v, true
			}
		}
	}
	return "", false
}

// dnsSuffix is the domain of the AWS partition region belongs to.
func dnsSuffix(region string) string {
	for _, p := range []struct{ prefix, suffix string }{
		{"cn-", "amazonaws.com.cn"},
		{"us-isob-", "sc2s.sgov.gov"},
		{"us-isof-", "csp.hci.ic.gov"},
		{"us-iso-", "c2s.ic.gov"},
		{"eu-isoe-", "cloud.adc-e.uk"},
	} {
		if strings.HasPrefix(region, p.prefix) {
			return p.suffix
		}
	}
	return "amazonaws.com"
}

// ec2Filter is one Filter.N of a request; EC2 treats its values as
// wildcard patterns.
type ec2Filter struct {
	name   string
	values []string
}

// ec2Instance is the part of an instance the driver reads.
type ec2Instance struct {
	ID    string   `xml:"instanceId"`
	State string   `xml:"instanceState>name"`
	Tags  []ec2Tag `xml:"tagSet>item"`
}

type ec2Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type describeInstancesAnswer struct {
	Reservations []struct {
		Instances []ec2Instance `xml:"instancesSet>item"`
	} `xml:"reservationSet>item"`
	NextToken string `xml:"nextToken"`
}

// ec2ErrorAnswer is EC2's error shape:
// <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>.
type ec2ErrorAnswer struct {
	XMLName xml.Name `xml:"Response"`
	Errors  []struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Errors>Error"`
	RequestID string `xml:"RequestID"`
}

// describeInstances returns every instance that passes the filters,
// following NextToken across pages.
func (c *ec2Client) describeInstances(ctx context.Context, filters []ec2Filter) ([]ec2Instance, error) {
	params := url.Values{"Action": {describeAction}, "Version": {ec2APIVersion}}
	for i, f := range filters {
		prefix := "Filter." + strconv.Itoa(i+1) + "."
		params.Set(prefix+"Name", f.name)
		for j, v := range f.values {
			params.Set(prefix+"Value."+strconv.Itoa(j+1), v)
		}
	}
	if c.pageSize > 0 {
		params.Set("MaxResults", strconv.Itoa(c.pageSize))
	}
	var instances []ec2Instance
	seen := map[string]bool{}
	for {
		var page describeInstancesAnswer
		if err := c.call(ctx, params, &page); err != nil {
			return nil, err
		}
		for _, r := range page.Reservations {
			instances = append(instances, r.Instances...)
		}
		// A token seen before would loop forever; EC2 never repeats one.
		if page.NextToken == "" || seen[page.NextToken] {
			return instances, nil
		}
		seen[page.NextToken] = true
		params.Set("NextToken", page.NextToken)
	}
}

// call makes one API call, retrying what the SDK's standard retryer
// retries, and decodes the answer into out.
func (c *ec2Client) call(ctx context.Context, params url.Values, out any) error {
	body := []byte(params.Encode())
	retryer := c.newRetryer()
	for attempt := 1; ; attempt++ {
		err := c.attempt(ctx, body, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return operationError(&smithy.CanceledError{Err: ctx.Err()})
		}
		if !retryer.IsErrorRetryable(err) {
			return operationError(err)
		}
		if attempt >= retryer.MaxAttempts() {
			return operationError(&retry.MaxAttemptsError{Attempt: attempt, Err: err})
		}
		delay, derr := retryer.RetryDelay(attempt, err)
		if derr != nil {
			return operationError(err)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return operationError(&smithy.CanceledError{Err: ctx.Err()})
		case <-timer.C:
		}
	}
}

func operationError(err error) error {
	return &smithy.OperationError{ServiceID: ec2ServiceID, OperationName: describeAction, Err: err}
}

// attempt signs and sends one request, and decodes its answer.
func (c *ec2Client) attempt(ctx context.Context, body []byte, out any) error {
	creds, err := c.credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("failed to retrieve credentials: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", formContentType)
	req.Header.Set("User-Agent", ec2UserAgent)
	payloadHash := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(payloadHash[:]), ec2SigningName, c.region, c.now().UTC()); err != nil {
		return fmt.Errorf("failed to sign request: %w", err)
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return &smithyhttp.RequestSendError{Err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxEC2Response+1))
	switch {
	case err != nil:
		return &smithy.DeserializationError{Err: fmt.Errorf("failed to read response body: %w", err)}
	case len(answer) > maxEC2Response:
		return &smithy.DeserializationError{Err: fmt.Errorf("the response body exceeds %d bytes", maxEC2Response)}
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return responseError(resp, answer)
	}
	if err := xml.Unmarshal(answer, out); err != nil {
		return &smithy.DeserializationError{Err: fmt.Errorf("failed to decode response body: %w", err), Snapshot: answer}
	}
	return nil
}

// responseError turns an error answer into the error the SDK gives for it:
// "https response error StatusCode: 403, RequestID: …, api error Code: Message".
func responseError(resp *http.Response, answer []byte) error {
	apiErr := &smithy.GenericAPIError{Code: "UnknownError", Message: http.StatusText(resp.StatusCode)}
	var shape ec2ErrorAnswer
	requestID := resp.Header.Get("X-Amzn-Requestid")
	if err := xml.Unmarshal(answer, &shape); err == nil {
		if len(shape.Errors) > 0 {
			apiErr.Code, apiErr.Message = shape.Errors[0].Code, shape.Errors[0].Message
		}
		if shape.RequestID != "" {
			requestID = shape.RequestID
		}
	}
	return &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: resp}, Err: apiErr},
		RequestID:     requestID,
	}
}
