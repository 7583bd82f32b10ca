// Package objstore keeps central's published versions — signed shard and
// config manifests, content-addressed chunk records and the pointers to the
// latest versions — in S3-compatible object storage, so that every central
// replica serves the same signed versions. Manifests and records are
// written once (a conditional PUT refuses a second writer); only the
// latest-version pointers are overwritten, and each is written after the
// manifest it names, so a reader sees the old version or the new one.
//
// KV presents a bucket as fleet sync's key space (fleet.KV): the published
// keys live in the bucket, cached in the replica's own store once read
// (they never change), and everything else (edge reports, rollout state)
// stays in that store.
package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Environment variables Config reads (FromEnv): the AWS SDKs' own names, so
// an operator's existing settings apply.
const (
	EnvEndpoint     = "AWS_ENDPOINT_URL_S3" // else AWS_ENDPOINT_URL; empty: AWS itself
	EnvEndpointAll  = "AWS_ENDPOINT_URL"
	EnvRegion       = "AWS_REGION" // default us-east-1
	EnvAccessKey    = "AWS_ACCESS_KEY_ID"
	EnvSecretKey    = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken = "AWS_SESSION_TOKEN"
)

// ErrNotFound reports a key the bucket does not hold.
var ErrNotFound = errors.New("objstore: no such object")

// ErrExists reports a write-once key that another writer already wrote with
// other content.
var ErrExists = errors.New("objstore: object already written with other content")

// Config says which bucket to use and how to reach it.
type Config struct {
	// URL is s3://bucket/prefix, as --store takes it.
	URL string
	// Endpoint is the server's base URL (http://127.0.0.1:7070 for a
	// local gateway); empty means AWS S3. A custom endpoint is addressed
	// path-style, which every S3-compatible server accepts.
	Endpoint                           string
	Region                             string
	AccessKey, SecretKey, SessionToken string
	HTTPClient                         *http.Client // nil: one of its own
	Timeout                            time.Duration
}

// FromEnv fills the endpoint, region and credentials of a Config for url
// from getenv (os.Getenv).
func FromEnv(url string, getenv func(string) string) Config {
	c := Config{
		URL: url, Endpoint: getenv(EnvEndpoint), Region: getenv(EnvRegion),
		AccessKey: getenv(EnvAccessKey), SecretKey: getenv(EnvSecretKey), SessionToken: getenv(EnvSessionToken),
	}
	if c.Endpoint == "" {
		c.Endpoint = getenv(EnvEndpointAll)
	}
	return c
}

// ParseURL splits s3://bucket/prefix into the bucket and the key prefix
// (empty, or ending in "/").
func ParseURL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("--store %q: %w; want s3://bucket/prefix", raw, err)
	}
	if u.Scheme != "s3" {
		return "", "", fmt.Errorf("--store %q: scheme %q; want s3://bucket/prefix", raw, u.Scheme)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("--store %q: want s3://bucket/prefix (credentials come from %s and %s, never the URL)", raw, EnvAccessKey, EnvSecretKey)
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	return u.Host, prefix, nil
}

// Bucket is one bucket and key prefix. It is safe for concurrent use.
type Bucket struct {
	s3      *s3.Client
	bucket  string
	prefix  string
	timeout time.Duration
	where   string // s3://bucket/prefix at endpoint, for messages
}

// Open checks cfg, connects and makes sure the bucket answers.
func Open(ctx context.Context, cfg Config) (*Bucket, error) {
	bucket, prefix, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if (cfg.AccessKey == "") != (cfg.SecretKey == "") {
		return nil, fmt.Errorf("objstore: set both %s and %s, or neither", EnvAccessKey, EnvSecretKey)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: fetchParallel, IdleConnTimeout: 90 * time.Second,
		}}
	}
	opts := s3.Options{
		Region:     cfg.Region,
		HTTPClient: cfg.HTTPClient,
		// The SDK's default checksums (CRC32 trailers) are not understood
		// by every S3-compatible server; MD5-free SigV4 is.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           3,
	}
	if cfg.AccessKey != "" {
		creds := aws.Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey, SessionToken: cfg.SessionToken, Source: "environment"}
		opts.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })
	} else {
		opts.Credentials = aws.AnonymousCredentials{}
	}
	if cfg.Endpoint != "" {
		if _, err := url.ParseRequestURI(cfg.Endpoint); err != nil {
			return nil, fmt.Errorf("objstore: %s %q is not a URL (for example http://127.0.0.1:7070): %w", EnvEndpoint, cfg.Endpoint, err)
		}
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
		opts.UsePathStyle = true
	}
	where := cfg.URL
	if cfg.Endpoint != "" {
		where += " at " + cfg.Endpoint
	}
	b := &Bucket{s3: s3.New(opts), bucket: bucket, prefix: prefix, timeout: cfg.Timeout, where: where}
	cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if _, err := b.s3.HeadBucket(cctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return nil, b.fail("open bucket", "", err)
	}
	return b, nil
}

// String names the bucket for logs.
func (b *Bucket) String() string { return b.where }

// Get returns the object at key, ErrNotFound when there is none.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	out, err := b.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key)})
	if err != nil {
		return nil, b.fail("get", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, b.fail("read", key, err)
	}
	return data, nil
}

// Put writes the object at key, replacing any.
func (b *Bucket) Put(ctx context.Context, key string, value []byte) error {
	return b.put(ctx, key, value, false)
}

// PutOnce writes the object at key unless it exists: a second write of the
// same content succeeds (a retried publish), of other content fails with
// ErrExists (two publishers).
func (b *Bucket) PutOnce(ctx context.Context, key string, value []byte) error {
	err := b.put(ctx, key, value, true)
	if !errors.Is(err, ErrExists) {
		return err
	}
	have, gerr := b.Get(ctx, key)
	if gerr != nil {
		return gerr
	}
	if bytes.Equal(have, value) {
		return nil
	}
	return err
}

func (b *Bucket) put(ctx context.Context, key string, value []byte, once bool) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	in := &s3.PutObjectInput{
		Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key),
		Body: bytes.NewReader(value), ContentLength: aws.Int64(int64(len(value))),
		ContentType: aws.String("application/octet-stream"),
	}
	if once {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := b.s3.PutObject(ctx, in); err != nil {
		return b.fail("put", key, err)
	}
	return nil
}

// Delete removes the objects at keys (absent ones are no error).
func (b *Bucket) Delete(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000) // the API's limit per request
		ids := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			ids[i] = types.ObjectIdentifier{Key: aws.String(b.prefix + k)}
		}
		cctx, cancel := context.WithTimeout(ctx, b.timeout)
		out, err := b.s3.DeleteObjects(cctx, &s3.DeleteObjectsInput{Bucket: aws.String(b.bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		cancel()
		if err != nil {
			return b.fail("delete", keys[0], err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("objstore: delete %s from %s: %s: %s (and %d more)", aws.ToString(e.Key), b.where, aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors)-1)
		}
		keys = keys[n:]
	}
	return nil
}

// List calls fn with every key under prefix, in key order.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(key string) error) error {
	p := s3.NewListObjectsV2Paginator(b.s3, &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(b.prefix + prefix)})
	for p.HasMorePages() {
		cctx, cancel := context.WithTimeout(ctx, b.timeout)
		page, err := p.NextPage(cctx)
		cancel()
		if err != nil {
			return b.fail("list", prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(strings.TrimPrefix(aws.ToString(o.Key), b.prefix)); err != nil {
				return err
			}
		}
	}
	return nil
}

// fail says what went wrong with which object, and how to fix it.
func (b *Bucket) fail(op, key string, err error) error {
	what := op
	if key != "" {
		what += " " + key
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var api smithy.APIError
	var resp interface{ HTTPStatusCode() int }
	status := 0
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
	}
	switch {
	case errors.As(err, &nsk) || (errors.As(err, &nf) && key != ""):
		return fmt.Errorf("%w: %s in %s", ErrNotFound, what, b.where)
	case status == http.StatusPreconditionFailed || status == http.StatusConflict:
		return fmt.Errorf("%w: %s in %s", ErrExists, what, b.where)
	case errors.As(err, &api) && (api.ErrorCode() == "NoSuchBucket" || (op == "open bucket" && status == http.StatusNotFound)):
		return fmt.Errorf("objstore: %s: bucket %q does not exist at %s; create it first: %w", what, b.bucket, b.where, err)
	case status == http.StatusForbidden || status == http.StatusUnauthorized:
		return fmt.Errorf("objstore: %s: %s refused the credentials; check %s and %s: %w", what, b.where, EnvAccessKey, EnvSecretKey, err)
	}
	return fmt.Errorf("objstore: %s in %s: %w", what, b.where, err)
}
