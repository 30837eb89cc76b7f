package desk

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/emmansun/gmsm/sm4"
)

// fieldCipher encrypts sensitive fields (bank accounts, ID numbers) at rest
// with SM4-GCM, as China's commercial-cryptography rules expect. The nonce
// is stored before the ciphertext.
type fieldCipher struct{ aead cipher.AEAD }

func newFieldCipher(key []byte) (*fieldCipher, error) {
	if len(key) != 16 {
		return nil, errors.New("desk: the SM4 key must be 16 bytes (POLICYDESK_KEY or the data directory's key file)")
	}
	block, err := sm4.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &fieldCipher{aead: aead}, nil
}

func (c *fieldCipher) seal(plain, context string) (string, error) {
	if plain == "" {
		return "", nil
	}
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := c.aead.Seal(nonce, nonce, []byte(plain), []byte(context))
	return "sm4gcm:" + base64.StdEncoding.EncodeToString(out), nil
}

func (c *fieldCipher) open(sealed, context string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	data, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, "sm4gcm:"))
	if err != nil || len(data) < c.aead.NonceSize() {
		return "", errors.New("desk: sealed field is corrupt")
	}
	n := c.aead.NonceSize()
	plain, err := c.aead.Open(nil, data[:n], data[n:], []byte(context))
	if err != nil {
		return "", errors.New("desk: sealed field does not open with this key")
	}
	return string(plain), nil
}

// Mask shows the last four characters of an account number: ****1234.
func Mask(s string) string {
	r := []rune(strings.ReplaceAll(s, " ", ""))
	if len(r) <= 4 {
		return strings.Repeat("*", len(r))
	}
	return "****" + string(r[len(r)-4:])
}
