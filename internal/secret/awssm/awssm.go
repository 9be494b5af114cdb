// Package awssm reads aws-sm: secret references from AWS Secrets Manager
// (GetSecretValue), with the credentials of the SDK's default chain or of
// the configuration's secrets.aws block.
package awssm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/ottr-go/ottr/internal/secret"
)

// maxAttempts is how often one lookup is tried: a throttled or dropped
// request is worth a second try, but the resolver's timeout bounds them
// all.
const maxAttempts = 2

// Config says how to reach Secrets Manager; every field may be empty.
type Config struct {
	// Region of the secrets; the default chain's (AWS_REGION, the
	// profile, the instance) when empty.
	Region string
	// Profile of the shared configuration files to use.
	Profile string
	// Endpoint replaces the regional endpoint: a VPC endpoint, or an
	// emulator in tests.
	Endpoint string
	// AccessKeyID and SecretAccessKey are static credentials, both or
	// neither; the default chain (environment, shared files, instance or
	// task role) when empty.
	AccessKeyID     string
	SecretAccessKey string
}

// Source reads Secrets Manager secrets. It loads the AWS configuration at
// its first lookup, so a process that uses no aws-sm: reference never
// needs one.
type Source struct {
	cfg Config

	mu     sync.Mutex
	client *secretsmanager.Client
}

// New returns a Source for cfg.
func New(cfg Config) (*Source, error) {
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, errors.New("secrets.aws: access_key_id and secret_access_key go together: set both, or neither to use the default credential chain")
	}
	return &Source{cfg: cfg}, nil
}

// Fetch returns the SecretString of the secret ref names, at its stage.
func (s *Source) Fetch(ctx context.Context, ref secret.Ref) (secret.Document, error) {
	client, err := s.clientFor(ctx)
	if err != nil {
		return secret.Document{}, err
	}
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref.Name)}
	if ref.Stage != "" {
		in.VersionStage = aws.String(ref.Stage)
	}
	out, err := client.GetSecretValue(ctx, in)
	if err != nil {
		return secret.Document{}, s.explain(ref, err)
	}
	if out.SecretString == nil {
		return secret.Document{}, errors.New("Secrets Manager holds a binary secret (SecretBinary) under this name; ottr reads SecretString only: store the value as a string")
	}
	return secret.Document{Text: *out.SecretString}, nil
}

// clientFor makes the client once. Loading the configuration reads files
// and the environment only: credentials are fetched at the first call.
func (s *Source) clientFor(ctx context.Context) (*secretsmanager.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRetryMaxAttempts(maxAttempts),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = maxAttempts })
		}),
	}
	if s.cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(s.cfg.Region))
	}
	if s.cfg.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(s.cfg.Profile))
	}
	if s.cfg.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(s.cfg.AccessKeyID, s.cfg.SecretAccessKey, "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration (secrets.aws, AWS_* variables, shared files): %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: set secrets.aws.region, or AWS_REGION for the ottr processes")
	}
	s.client = secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if s.cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.cfg.Endpoint)
		}
	})
	return s.client, nil
}

// explain turns an SDK error into what failed and what to do. The SDK's
// errors name the operation and the service's message, never a secret
// value, so they are kept as the cause.
func (s *Source) explain(ref secret.Ref, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "ResourceNotFoundException":
			if ref.Stage != "" {
				return fmt.Errorf("Secrets Manager has no secret %s with a version staged %s: check the name, the stage and secrets.aws.region (%s)", ref.Name, ref.Stage, apiErr.ErrorMessage())
			}
			return fmt.Errorf("Secrets Manager has no secret %s: check the name and secrets.aws.region (%s)", ref.Name, apiErr.ErrorMessage())
		case "AccessDeniedException":
			return fmt.Errorf("Secrets Manager refused to read %s: give the identity ottr runs as secretsmanager:GetSecretValue on it (and kms:Decrypt on its key) (%s)", ref.Name, apiErr.ErrorMessage())
		case "DecryptionFailure":
			return fmt.Errorf("Secrets Manager could not decrypt %s with its KMS key: give the identity ottr runs as kms:Decrypt on the key (%s)", ref.Name, apiErr.ErrorMessage())
		case "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException":
			return fmt.Errorf("Secrets Manager refused the AWS credentials (%s): check secrets.aws or the credentials of the default chain", apiErr.ErrorMessage())
		}
		return fmt.Errorf("Secrets Manager: %w", err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return fmt.Errorf("cannot reach Secrets Manager%s: %w", s.endpointNote(), opErr)
	}
	return fmt.Errorf("Secrets Manager: %w", err)
}

func (s *Source) endpointNote() string {
	if s.cfg.Endpoint == "" {
		return ""
	}
	return " at " + s.cfg.Endpoint + " (secrets.aws.endpoint)"
}
