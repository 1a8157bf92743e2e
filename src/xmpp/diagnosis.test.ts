import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeConnectFailure, describeTlsError } from './diagnosis.js';

const ctx = { domain: 'example.com', server: 'xmpp.example.com:5222' };

test('diagnosis: TLS errors in words, with the server, the name checked and the fix', () => {
  const table: Array<[{ message: string; code?: string; cert?: { subjectaltname?: string; valid_to?: string } }, string]> = [
    [{ message: 'self-signed certificate', code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
      "TLS: certificate is self-signed (server xmpp.example.com:5222, name checked: example.com): pass --ca-file FILE with the server's CA (domains.example.com.caFile), or --tls off only on loopback"],
    [{ message: 'unable to verify the first certificate', code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
      "TLS: certificate is signed by a CA this machine does not trust (server xmpp.example.com:5222, name checked: example.com): pass --ca-file FILE with the server's CA (domains.example.com.caFile), or --tls off only on loopback"],
    [{ message: "Hostname/IP does not match certificate's altnames", code: 'ERR_TLS_CERT_ALTNAME_INVALID', cert: { subjectaltname: 'DNS:other.example, IP Address:10.0.0.1' } },
      'TLS: certificate is not valid for example.com (it names other.example, 10.0.0.1) (server xmpp.example.com:5222, name checked: example.com): give the server a certificate for example.com (the XMPP domain, not the host name)'],
    [{ message: 'certificate has expired', code: 'CERT_HAS_EXPIRED', cert: { valid_to: 'Jan  1 00:00:00 2020 GMT' } },
      "TLS: certificate expired (Jan  1 00:00:00 2020 GMT) (server xmpp.example.com:5222, name checked: example.com): renew the server's certificate"],
    [{ message: 'C0:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:../ssl/record/rec_layer_s3.c:1586:SSL alert number 40', code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' },
      'TLS: the server refused the TLS handshake (alert 40: no common cipher or TLS version, or no certificate for the name sent) (server xmpp.example.com:5222, name checked: example.com): check that the server has a certificate for example.com and accepts TLS 1.2 or 1.3'],
    [{ message: 'C0:error:0A0000C6:SSL routines:tls_get_more_records:packet length too long:../ssl/record/ssl3_record.c:355:', code: 'ERR_SSL_PACKET_LENGTH_TOO_LONG' },
      "TLS: packet length too long (server xmpp.example.com:5222, name checked: example.com): check the server's TLS settings"],
  ];
  for (const [err, expected] of table) assert.equal(describeTlsError(err, ctx), expected, err.code);
});

test('diagnosis: connection failures get the setting that fixes them; described TLS failures and unknown ones pass unchanged', () => {
  const table: Array<[string, string]> = [
    ['could not connect to example.com: connect ECONNREFUSED 10.0.0.5:5222', 'could not connect to example.com: connect ECONNREFUSED 10.0.0.5:5222: is the XMPP server running there? set --upstream-host/--upstream-port (domains.example.com.host/port)'],
    ['could not connect to example.com: getaddrinfo ENOTFOUND example.com', 'could not connect to example.com: getaddrinfo ENOTFOUND example.com: the name does not resolve: fix DNS, or set --upstream-host (domains.example.com.host)'],
    ['connecting to example.com timed out after 15000 ms', 'connecting to example.com timed out after 15000 ms: is the server reachable and answering XMPP on that port? (upstream.connectTimeoutMs sets the limit)'],
    ['example.com does not offer STARTTLS and TLS is required', 'example.com does not offer STARTTLS and TLS is required: enable STARTTLS on the server, or --tls off only on loopback'],
    ['example.com requires STARTTLS but TLS is configured off', 'example.com requires STARTTLS but TLS is configured off: use --tls required (domains.example.com.tls)'],
    ["example.com offers no XMPP client service (SRV target '.')", "example.com offers no XMPP client service (SRV target '.'): its DNS says so; set --upstream-host (domains.example.com.host) if it does have a server"],
    ['TLS: certificate is self-signed (name checked: example.com): pass --ca-file FILE', 'TLS: certificate is self-signed (name checked: example.com): pass --ca-file FILE'],
    ['something else', 'something else'],
  ];
  for (const [message, expected] of table) assert.equal(describeConnectFailure(message, { domain: 'example.com' }), expected);
});
