package auth

import (
	"fmt"
	"net"
	"strings"
)

// CheckPlainHTTP refuses to serve the API in clear on an address other
// machines can reach, unless the operator said so: a bearer token sent in
// clear over a network is a token given away. Loopback addresses (and
// "localhost") are fine; so is anything when TLS is on or insecure is set.
func CheckPlainHTTP(addr string, tls, insecure bool) error {
	if tls || insecure {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	where := host
	if host == "" || host == "0.0.0.0" || host == "::" {
		where = "every interface"
	}
	return fmt.Errorf("--http %s listens on %s without TLS: API tokens, questions and documents would cross the network in clear. "+
		"Give --http-tls-cert FILE and --http-tls-key FILE (or --http-tls-fleet to use the node's fleet certificate), "+
		"or --insecure-http when a proxy in front of the node terminates TLS", addr, where)
}
