package inspect

// relay_tls.go is the relay's server side TLS: a certificate from files
// (--listen-cert, --listen-key) or one generated in memory for local use
// (--listen-tls-self-signed).

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// selfSignedValidity is how long a generated certificate is valid.
const selfSignedValidity = 7 * 24 * time.Hour

// ListenTLS is the relay's server TLS configuration, nil for plain ws://,
// with a note describing the certificate: from the PEM files certFile and
// keyFile, or generated in memory when selfSigned (and both are "").
func ListenTLS(certFile, keyFile string, selfSigned bool) (*tls.Config, string, error) {
	files := certFile != "" || keyFile != ""
	switch {
	case files && selfSigned:
		return nil, "", errors.New("inspect: --listen-tls-self-signed or --listen-cert with --listen-key, not both")
	case files && (certFile == "" || keyFile == ""):
		return nil, "", errors.New("inspect: --listen-cert and --listen-key go together")
	case !files && !selfSigned:
		return nil, "", nil
	}
	var cert tls.Certificate
	var err error
	if files {
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, "", fmt.Errorf("inspect: --listen-cert %s / --listen-key %s: %w", certFile, keyFile, err)
		}
	} else {
		cert, err = generateSelfSigned(time.Now())
		if err != nil {
			return nil, "", err
		}
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, "", fmt.Errorf("inspect: parse the listening certificate: %w", err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	kind := "certificate " + certFile
	if !files {
		kind = "self-signed certificate"
	}
	note := fmt.Sprintf("TLS with %s for %s, valid until %s, SHA-256 %s", kind, certNames(leaf),
		leaf.NotAfter.UTC().Format(time.RFC3339), hex.EncodeToString(sum[:]))
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, note, nil
}

// certNames lists the names and addresses a certificate is for.
func certNames(c *x509.Certificate) string {
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return c.Subject.CommonName
	}
	return fmt.Sprint(names)
}

// generateSelfSigned makes an ECDSA P-256 certificate for localhost, 127.0.0.1
// and ::1, kept in memory only: clients must be told to accept it (a
// browser's warning page, or --insecure / a pinned fingerprint).
func generateSelfSigned(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("inspect: self-signed certificate: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("inspect: self-signed certificate: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "wsbench inspect relay", Organization: []string{"wsbench"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("inspect: self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
