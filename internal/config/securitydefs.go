package config

import (
	"errors"
	"strings"
)

// The security settings (listeners' TLS and SASL, the authorizer, quotas' sampling and
// connection limits). internal/security reads them from Broker.Raw, per listener through
// listener.name.<listener>.<config> overrides, which Set accepts for the configs in
// perListenerConfigs.
var securityDefList = []*Def{
	{Name: "ssl.keystore.type", Type: TypeString, Default: "PEM", check: oneOf("PEM"),
		Doc: "The keystore format; Samsa reads PEM only (Kafka's default is JKS)."},
	{Name: "ssl.keystore.location", Type: TypeString, NullDefault: true,
		Doc: "A PEM file with the private key (unencrypted) and the certificate chain, leaf first."},
	{Name: "ssl.keystore.key", Type: TypePassword, NullDefault: true,
		Doc: "The private key in PEM, inline (with ssl.keystore.certificate.chain) instead of ssl.keystore.location."},
	{Name: "ssl.keystore.certificate.chain", Type: TypePassword, NullDefault: true,
		Doc: "The certificate chain in PEM, inline."},
	{Name: "ssl.keystore.password", Type: TypePassword, NullDefault: true,
		Doc: "Refused: Samsa reads unencrypted PEM keys only."},
	{Name: "ssl.key.password", Type: TypePassword, NullDefault: true,
		Doc: "Refused: Samsa reads unencrypted PEM keys only."},
	{Name: "ssl.truststore.type", Type: TypeString, Default: "PEM", check: oneOf("PEM"),
		Doc: "The truststore format; Samsa reads PEM only (Kafka's default is JKS)."},
	{Name: "ssl.truststore.location", Type: TypeString, NullDefault: true,
		Doc: "A PEM file of the CA certificates client certificates are verified against."},
	{Name: "ssl.truststore.certificates", Type: TypePassword, NullDefault: true,
		Doc: "The trusted CA certificates in PEM, inline."},
	{Name: "ssl.truststore.password", Type: TypePassword, NullDefault: true,
		Doc: "Not needed for a PEM truststore; ignored by Kafka for PEM too." + unusedDoc, Unused: true},
	{Name: "ssl.client.auth", Type: TypeString, Default: "none", check: oneOf("none", "requested", "required"),
		Doc: "Whether TLS clients must (required) or may (requested) present a certificate; its subject is the principal."},
	{Name: "ssl.principal.mapping.rules", Type: TypeString, Default: "DEFAULT",
		Doc: "Rules (RULE:pattern/replacement/[LU], DEFAULT) mapping a certificate subject to a user name."},
	{Name: "ssl.enabled.protocols", Type: TypeList, Default: "TLSv1.2,TLSv1.3", check: listOf("TLSv1.2", "TLSv1.3"),
		Doc: "The TLS versions served; 1.2 and 1.3 only."},
	{Name: "ssl.protocol", Type: TypeString, Default: "TLSv1.3", check: oneOf("TLSv1.2", "TLSv1.3", "TLS"), Unused: true,
		Doc: "The SSLContext protocol of a JVM." + unusedDoc},
	{Name: "ssl.cipher.suites", Type: TypeList, Default: "",
		Doc: "Refused when set: Go's TLS cipher suites are fixed."},
	{Name: "ssl.endpoint.identification.algorithm", Type: TypeString, Default: "https", Unused: true,
		Doc: "Host name verification for inter-broker clients." + unusedDoc},
	{Name: "sasl.enabled.mechanisms", Type: TypeList, Default: "SCRAM-SHA-256,SCRAM-SHA-512",
		check: listOf("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
		Doc:   "The SASL mechanisms of SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (Kafka's default GSSAPI is not served)."},
	{Name: "sasl.mechanism.inter.broker.protocol", Type: TypeString, Default: "GSSAPI", Unused: true,
		Doc: "The SASL mechanism between brokers." + unusedDoc},
	{Name: "security.inter.broker.protocol", Type: TypeString, Default: "PLAINTEXT", Unused: true,
		Doc: "The security protocol between brokers." + unusedDoc},
	{Name: "authorizer.class.name", Type: TypeString, Default: "",
		check: oneOf("", "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "kafka.security.authorizer.AclAuthorizer"),
		Doc:   "Kafka's authorizer class; either ACL authorizer's name turns Samsa's ACL authorizer on (as samsa.authorizer=acl)."},
	{Name: "samsa.authorizer", Type: TypeString, Default: "none", check: oneOf("none", "acl"),
		Doc: "acl turns on ACL checks on every request (StandardAuthorizer semantics); none allows everything."},
	{Name: "super.users", Type: TypeString, NullDefault: true, check: superUsers,
		Doc: "Principals that bypass ACLs, separated by semicolons: User:admin;User:ops."},
	{Name: "allow.everyone.if.no.acl.found", Type: TypeBoolean, Default: "false",
		Doc: "Whether an operation on a resource with no ACL at all is allowed."},
	{Name: "max.connections.per.ip", Type: TypeInt, Default: maxInt, ValidValues: "[0,...]", check: atLeast(0),
		Doc: "Connections one IP may hold open; more are closed."},
	{Name: "max.connections.per.ip.overrides", Type: TypeString, Default: "",
		Doc: "Per-IP exceptions to max.connections.per.ip: ip:count,ip:count."},
	{Name: "max.connections", Type: TypeInt, Default: maxInt, ValidValues: "[0,...]", check: atLeast(0),
		Doc: "Connections the broker holds open in total; more are closed."},
	{Name: "connection.failed.authentication.delay.ms", Type: TypeInt, Default: "100", ValidValues: "[0,...]", check: atLeast(0),
		Doc: "Delay before a connection whose authentication failed is closed; Samsa doubles it for each further failure from the same address (up to 5 s)."},
	{Name: "quota.window.num", Type: TypeInt, Default: "11", ValidValues: "[1,...]", check: atLeast(1),
		Doc: "Samples kept for client quota rates."},
	{Name: "quota.window.size.seconds", Type: TypeInt, Default: "1", ValidValues: "[1,...]", check: atLeast(1),
		Doc: "The length of one client quota sample."},
	{Name: "samsa.http.auth", Type: TypeString, Default: "none", check: oneOf("none", "basic"),
		Doc: "basic: the schema registry and the console require HTTP basic auth with a user's name and password (the SASL users), and check the ACLs; none: they are open."},
	{Name: "samsa.http.tls.enable", Type: TypeBoolean, Default: "false",
		Doc: "true: the schema registry (and the console) serve HTTPS with the broker's ssl.keystore.location, ssl.truststore.location and ssl.client.auth (without listener.name overrides)."},
	{Name: "samsa.bootstrap.users", Type: TypeString, Default: "",
		Doc: "Users created at first start, NAME:MECHANISM,...; the password of NAME comes from the environment variable SAMSA_BOOTSTRAP_PASSWORD_<NAME> (upper case) or the file it names in SAMSA_BOOTSTRAP_PASSWORD_FILE_<NAME>."},
}

// perListenerConfigs are the configs that listener.name.<listener>.<config> may override.
var perListenerConfigs = map[string]bool{
	"ssl.keystore.type": true, "ssl.keystore.location": true, "ssl.keystore.key": true, "ssl.keystore.certificate.chain": true,
	"ssl.keystore.password": true, "ssl.key.password": true, "ssl.truststore.type": true, "ssl.truststore.location": true,
	"ssl.truststore.certificates": true, "ssl.truststore.password": true, "ssl.client.auth": true,
	"ssl.principal.mapping.rules": true, "ssl.enabled.protocols": true, "ssl.cipher.suites": true,
	"sasl.enabled.mechanisms": true,
}

// The security defs join the broker table before its init sorts and indexes it (package
// variables are initialized before init functions run).
var _ = func() bool {
	for _, d := range securityDefList {
		d.readRaw = !d.Unused
	}
	brokerDefList = append(brokerDefList, securityDefList...)
	return true
}()

func superUsers(v value) error {
	for _, p := range strings.Split(v.s, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if typ, name, ok := strings.Cut(p, ":"); !ok || typ == "" || name == "" {
			return errors.New("each super user must be TYPE:NAME, e.g. User:admin (separated by ';')")
		}
	}
	return nil
}

// setListenerOverride sets listener.name.<listener>.<config>: config must be one of
// perListenerConfigs and its value valid for it.
func (b *Broker) setListenerOverride(key, val string) error {
	rest := strings.TrimPrefix(key, "listener.name.")
	l, sub, ok := strings.Cut(rest, ".")
	if !ok || l == "" || !perListenerConfigs[sub] {
		return &UnknownConfigError{Kind: "broker", Name: key,
			Hint: "listener.name.<listener>.<config> overrides ssl.* and sasl.enabled.mechanisms only"}
	}
	if _, err := brokerIndex[sub].parse(val); err != nil {
		return err
	}
	if b.Raw == nil {
		b.Raw = make(map[string]string)
	}
	b.Raw[key] = val
	return nil
}
