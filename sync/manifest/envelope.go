package manifest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
)

// Kind says what an envelope's body is. It is signed with the body, so a
// signed config can never be passed off as a shard manifest.
type Kind uint8

// The kinds of signed manifest. Numbers are part of the format.
const (
	KindShard  Kind = 1
	KindModels Kind = 2
	KindConfig Kind = 3
)

func (k Kind) String() string {
	switch k {
	case KindShard:
		return "shard"
	case KindModels:
		return "models"
	case KindConfig:
		return "config"
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// Errors Open and Verify return; test with errors.Is.
var (
	// ErrBadSignature reports an envelope whose signature does not verify
	// with the key it names: it was altered or not made by central.
	ErrBadSignature = errors.New("bad signature")
	// ErrUnknownKey reports an envelope signed with a key this node does
	// not trust.
	ErrUnknownKey = errors.New("signed with an unknown key")
	// ErrWrongKind reports an envelope of another kind than expected.
	ErrWrongKind = errors.New("wrong manifest kind")
)

// KeyID names a public key in envelopes: the first 8 bytes of its SHA-256.
// It only picks the key to try; the signature is what proves anything.
type KeyID [8]byte

// IDOf returns the key id of pub.
func IDOf(pub ed25519.PublicKey) KeyID {
	sum := sha256.Sum256(pub)
	var id KeyID
	copy(id[:], sum[:])
	return id
}

func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// Envelope is a signed manifest: a kind, the signer's key id, the
// canonical body and an ed25519 signature over
// "edgerag manifest v1\x00" || kind || body.
type Envelope struct {
	Kind  Kind
	KeyID KeyID
	Body  []byte
	Sig   [ed25519.SignatureSize]byte
}

// domain separates these signatures from anything else the key might ever
// sign.
const domain = "edgerag manifest v1\x00"

func signedBytes(kind Kind, body []byte) []byte {
	msg := make([]byte, 0, len(domain)+1+len(body))
	msg = append(msg, domain...)
	msg = append(msg, byte(kind))
	return append(msg, body...)
}

// Sign wraps body in an envelope signed with priv.
func Sign(priv ed25519.PrivateKey, kind Kind, body []byte) Envelope {
	e := Envelope{Kind: kind, KeyID: IDOf(priv.Public().(ed25519.PublicKey)), Body: body}
	copy(e.Sig[:], ed25519.Sign(priv, signedBytes(kind, body)))
	return e
}

// Verify checks the envelope's signature against the trusted keys.
func (e *Envelope) Verify(trusted ...ed25519.PublicKey) error {
	for _, pub := range trusted {
		if IDOf(pub) != e.KeyID {
			continue
		}
		if !ed25519.Verify(pub, signedBytes(e.Kind, e.Body), e.Sig[:]) {
			return fmt.Errorf("%s manifest: %w (key %s)", e.Kind, ErrBadSignature, e.KeyID)
		}
		return nil
	}
	return fmt.Errorf("%s manifest: %w %s: give the node central's sync.pub (--sync-pub)", e.Kind, ErrUnknownKey, e.KeyID)
}

// Envelope layout: "ERM1", kind (1 byte), key id (8), body length
// (uvarint), body, signature (64).
var envMagic = []byte("ERM1")

// MaxBody bounds an envelope's body; a 1M-chunk shard manifest is about 19
// MiB, the largest body the format allows.
const MaxBody = 24 << 20

// Marshal returns the envelope's encoding.
func (e *Envelope) Marshal() []byte {
	var w enc
	w.b = make([]byte, 0, len(envMagic)+1+8+5+len(e.Body)+len(e.Sig))
	w.bytes(envMagic)
	w.byte1(byte(e.Kind))
	w.bytes(e.KeyID[:])
	w.uvarint(uint64(len(e.Body)))
	w.bytes(e.Body)
	w.bytes(e.Sig[:])
	return w.b
}

// UnmarshalEnvelope decodes an envelope. It does not verify it.
func UnmarshalEnvelope(b []byte) (Envelope, error) {
	d := dec{b: b}
	var e Envelope
	if m := d.take("magic", len(envMagic)); d.err == nil && string(m) != string(envMagic) {
		return e, fmt.Errorf("%w: not a signed manifest (bad magic)", ErrMalformed)
	}
	e.Kind = Kind(d.byte1("kind"))
	copy(e.KeyID[:], d.take("key id", len(e.KeyID)))
	n := d.uvarint("body length")
	if d.err == nil && n > MaxBody {
		d.fail("body of %d bytes, at most %d", n, MaxBody)
	}
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail("body of %d bytes but %d left", n, len(d.b))
	}
	if d.err == nil {
		e.Body = d.take("body", int(n))
	}
	copy(e.Sig[:], d.take("signature", len(e.Sig)))
	if err := d.end("envelope"); err != nil {
		return Envelope{}, err
	}
	switch e.Kind {
	case KindShard, KindModels, KindConfig:
	default:
		return Envelope{}, fmt.Errorf("%w: unknown manifest kind %d", ErrMalformed, e.Kind)
	}
	return e, nil
}

// open decodes, checks the kind and verifies an envelope.
func open(b []byte, want Kind, trusted []ed25519.PublicKey) (Envelope, error) {
	e, err := UnmarshalEnvelope(b)
	if err != nil {
		return e, err
	}
	if e.Kind != want {
		return e, fmt.Errorf("%w: got a %s manifest, want %s", ErrWrongKind, e.Kind, want)
	}
	return e, e.Verify(trusted...)
}

// SignShard encodes and signs a shard manifest.
func SignShard(priv ed25519.PrivateKey, m *Shard) ([]byte, error) {
	body, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	e := Sign(priv, KindShard, body)
	return e.Marshal(), nil
}

// OpenShard verifies a signed shard manifest and decodes it.
func OpenShard(b []byte, trusted ...ed25519.PublicKey) (Shard, error) {
	e, err := open(b, KindShard, trusted)
	if err != nil {
		return Shard{}, err
	}
	return UnmarshalShard(e.Body)
}

// SignModels encodes and signs a model manifest.
func SignModels(priv ed25519.PrivateKey, m *Models) ([]byte, error) {
	body, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	e := Sign(priv, KindModels, body)
	return e.Marshal(), nil
}

// OpenModels verifies a signed model manifest and decodes it.
func OpenModels(b []byte, trusted ...ed25519.PublicKey) (Models, error) {
	e, err := open(b, KindModels, trusted)
	if err != nil {
		return Models{}, err
	}
	return UnmarshalModels(e.Body)
}

// SignConfig encodes and signs a config manifest.
func SignConfig(priv ed25519.PrivateKey, c *Config) ([]byte, error) {
	body, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	e := Sign(priv, KindConfig, body)
	return e.Marshal(), nil
}

// OpenConfig verifies a signed config manifest and decodes it.
func OpenConfig(b []byte, trusted ...ed25519.PublicKey) (Config, error) {
	e, err := open(b, KindConfig, trusted)
	if err != nil {
		return Config{}, err
	}
	return UnmarshalConfig(e.Body)
}

// GenerateKey makes a sync key pair from rand (crypto/rand.Reader).
func GenerateKey(rand io.Reader) (ed25519.PublicKey, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("generate sync key: %w", err)
	}
	return pub, priv, nil
}

// MarshalPrivateKey returns priv as a PKCS#8 PEM block ("PRIVATE KEY").
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode sync key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey returns pub as a PKIX PEM block ("PUBLIC KEY").
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode sync public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey reads what MarshalPrivateKey writes.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("sync key: not a PEM \"PRIVATE KEY\" block (make one with 'edgerag sync keygen')")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("sync key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("sync key: a %T, want ed25519", k)
	}
	return priv, nil
}

// ParsePublicKey reads what MarshalPublicKey writes.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("sync public key: not a PEM \"PUBLIC KEY\" block (central's sync.pub from 'edgerag sync keygen')")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("sync public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("sync public key: a %T, want ed25519", k)
	}
	return pub, nil
}
