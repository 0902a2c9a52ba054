package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config locates a bucket of S3-compatible object storage.
type S3Config struct {
	// Endpoint is host:port of the service (required).
	Endpoint string
	// Bucket holds the lake (required; it must exist).
	Bucket string
	// Prefix is prepended to every object name ("" for the bucket's root).
	Prefix string
	// AccessKey and SecretKey sign requests; empty means anonymous.
	AccessKey, SecretKey string
	// Region of the bucket (default us-east-1).
	Region string
	// TLS selects https (default http).
	TLS bool
	// SpoolDir holds files being written before their upload (default: the temp dir).
	SpoolDir string
}

// S3 is a Storage on S3-compatible object storage, through minio-go. Objects are written
// to a local spool file and uploaded when closed (PutObject: readers see the whole object or
// nothing); Rename is a server-side copy followed by a delete of the source, so after a
// crash between the two both exist and Rename may be repeated.
type S3 struct {
	cl  *minio.Client
	cfg S3Config
}

// NewS3 returns the Storage of cfg's bucket.
func NewS3(cfg S3Config) (*S3, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("lake: S3Config.Endpoint and Bucket are required")
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	} else {
		creds = credentials.New(&credentials.Static{})
	}
	cl, err := minio.New(cfg.Endpoint, &minio.Options{Creds: creds, Secure: cfg.TLS, Region: region})
	if err != nil {
		return nil, fmt.Errorf("lake: s3 client: %w", err)
	}
	return &S3{cl: cl, cfg: cfg}, nil
}

func (s *S3) key(name string) string { return join(s.cfg.Prefix, name) }

// Create implements Storage.
func (s *S3) Create(ctx context.Context, name string) (Object, error) {
	f, err := os.CreateTemp(s.cfg.SpoolDir, "lake-spool-*")
	if err != nil {
		return nil, fmt.Errorf("lake: spool: %w", err)
	}
	return &s3Object{s: s, key: s.key(name), f: f}, nil
}

type s3Object struct {
	s   *S3
	key string
	f   *os.File
	n   int64
}

func (o *s3Object) Write(b []byte) (int, error) {
	n, err := o.f.Write(b)
	o.n += int64(n)
	return n, err
}

func (o *s3Object) Close() error {
	defer os.Remove(o.f.Name())
	defer o.f.Close()
	if _, err := o.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("lake: spool: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultS3Timeout)
	defer cancel()
	_, err := o.s.cl.PutObject(ctx, o.s.cfg.Bucket, o.key, o.f, o.n, minio.PutObjectOptions{ContentType: "application/vnd.apache.parquet"})
	if err != nil {
		return fmt.Errorf("lake: put %s: %w", o.key, err)
	}
	return nil
}

func (o *s3Object) Abort() error {
	o.f.Close()
	return os.Remove(o.f.Name())
}

const defaultS3Timeout = 5 * time.Minute

// Rename implements Storage.
func (s *S3) Rename(ctx context.Context, from, to string) error {
	_, err := s.cl.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.cfg.Bucket, Object: s.key(to)},
		minio.CopySrcOptions{Bucket: s.cfg.Bucket, Object: s.key(from)})
	if err != nil {
		return fmt.Errorf("lake: copy %s to %s: %w", from, to, err)
	}
	return s.Delete(ctx, from)
}

// Delete implements Storage.
func (s *S3) Delete(ctx context.Context, name string) error {
	if err := s.cl.RemoveObject(ctx, s.cfg.Bucket, s.key(name), minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return fmt.Errorf("lake: delete %s: %w", name, err)
	}
	return nil
}

// List implements Storage.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	base := s.key("")
	if base != "" {
		base += "/"
	}
	var out []string
	for o := range s.cl.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: base + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("lake: list %s: %w", prefix, o.Err)
		}
		if strings.HasSuffix(o.Key, "/") {
			continue
		}
		out = append(out, strings.TrimPrefix(o.Key, base))
	}
	sort.Strings(out)
	return out, nil
}

// Exists implements Storage.
func (s *S3) Exists(ctx context.Context, name string) (bool, error) {
	_, err := s.cl.StatObject(ctx, s.cfg.Bucket, s.key(name), minio.StatObjectOptions{})
	switch {
	case err == nil:
		return true, nil
	case notFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("lake: stat %s: %w", name, err)
	}
}

// Open returns a reader of the object name and its size (for reading a lake back).
func (s *S3) Open(ctx context.Context, name string) (*minio.Object, int64, error) {
	o, err := s.cl.GetObject(ctx, s.cfg.Bucket, s.key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, fmt.Errorf("lake: get %s: %w", name, err)
	}
	st, err := o.Stat()
	if err != nil {
		o.Close()
		return nil, 0, fmt.Errorf("lake: get %s: %w", name, err)
	}
	return o, st.Size, nil
}

func notFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey"
}
