/**
 * Upstream failures in words an operator can act on: which server, which name its certificate
 * was checked against, what went wrong, and the setting that fixes it. Used for the upstream
 * stream's own errors (logs) and by `shared-bosh check` / the check at start.
 *
 * Node reports TLS failures with OpenSSL's text ("ssl3_read_bytes:sslv3 alert handshake failure
 * ... SSL alert number 40", "self-signed certificate"); `code` says which one it is.
 */

export interface FailureContext {
  /** The served XMPP domain: the name the certificate is checked against (and SNI). */
  domain: string;
  /** The server connected to, `host:port`, when known. */
  server?: string;
}

interface TlsErrorLike {
  message: string;
  code?: unknown;
  /** On ERR_TLS_CERT_ALTNAME_INVALID: the certificate node checked. */
  cert?: { subjectaltname?: string; subject?: { CN?: string }; valid_to?: string };
}

const TRUST_FIX = "pass --ca-file FILE with the server's CA (domains.<name>.caFile), or --tls off only on loopback";

/** [reason, fix] per error code of node's certificate check and OpenSSL's handshake. */
const TLS_REASONS: Record<string, (err: TlsErrorLike, ctx: FailureContext) => [string, string]> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: () => ['certificate is self-signed', TRUST_FIX],
  SELF_SIGNED_CERT_IN_CHAIN: () => ['certificate chain ends in a CA this machine does not trust', TRUST_FIX],
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: () => ['certificate is signed by a CA this machine does not trust', TRUST_FIX],
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: () => ['certificate is signed by a CA this machine does not trust', TRUST_FIX],
  UNABLE_TO_GET_ISSUER_CERT: () => ["certificate's issuer is unknown (missing intermediate certificate?)", `have the server send its full chain, or ${TRUST_FIX}`],
  CERT_HAS_EXPIRED: (err) => [`certificate expired${err.cert?.valid_to ? ` (${err.cert.valid_to})` : ''}`, "renew the server's certificate"],
  CERT_NOT_YET_VALID: () => ['certificate is not valid yet', "check the clocks of this machine and the server, or the certificate's dates"],
  ERR_TLS_CERT_ALTNAME_INVALID: (err, ctx) => [
    `certificate is not valid for ${ctx.domain}${err.cert?.subjectaltname ? ` (it names ${err.cert.subjectaltname.replace(/DNS:|IP Address:/g, '')})` : ''}`,
    `give the server a certificate for ${ctx.domain} (the XMPP domain, not the host name)`,
  ],
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: (_err, ctx) => [
    'the server refused the TLS handshake (alert 40: no common cipher or TLS version, or no certificate for the name sent)',
    `check that the server has a certificate for ${ctx.domain} and accepts TLS 1.2 or 1.3`,
  ],
  ERR_SSL_TLSV1_UNRECOGNIZED_NAME: (_err, ctx) => [`the server does not know the name ${ctx.domain} (TLS SNI)`, `serve ${ctx.domain} on that server, or point --upstream-host at the right one`],
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: () => ['no TLS version both sides accept', 'enable TLS 1.2 or 1.3 on the server'],
  ERR_SSL_UNSUPPORTED_PROTOCOL: () => ['no TLS version both sides accept', 'enable TLS 1.2 or 1.3 on the server'],
  ERR_SSL_WRONG_VERSION_NUMBER: () => ['the server did not answer in TLS', 'check --upstream-port: it must be the STARTTLS client port (5222), not a Direct TLS or other port'],
  ECONNRESET: () => ['the server closed the connection during the TLS handshake', "check the server's log for the TLS error"],
};

/**
 * A TLS error during STARTTLS as one line, e.g. `TLS: certificate is self-signed (server
 * 127.0.0.1:5222, name checked: example.com): pass --ca-file FILE with the server's CA
 * (domains.example.com.caFile), or --tls off only on loopback`.
 */
export function describeTlsError(err: TlsErrorLike, ctx: FailureContext): string {
  const code = typeof err.code === 'string' ? err.code : '';
  const explain = TLS_REASONS[code];
  const [reason, fix] = explain ? explain(err, ctx) : [opensslText(err.message), "check the server's TLS settings"];
  const where = ctx.server ? `server ${ctx.server}, ` : '';
  return `TLS: ${reason} (${where}name checked: ${ctx.domain}): ${fix.replace('<name>', ctx.domain)}`;
}

/** OpenSSL's "error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:...": the words only. */
function opensslText(message: string): string {
  const m = /SSL routines:[^:]*:([^:]+)/.exec(message);
  return m ? m[1]! : message;
}

/**
 * A failure to open the upstream stream (its message, as the stream reports it) with the setting
 * that fixes it. TLS failures come already described (describeTlsError).
 */
export function describeConnectFailure(message: string, ctx: FailureContext): string {
  const d = ctx.domain;
  const rules: Array<[RegExp, string]> = [
    [/ECONNREFUSED/, 'is the XMPP server running there? set --upstream-host/--upstream-port (domains.<name>.host/port)'],
    [/ENOTFOUND|EAI_AGAIN|ENODATA/, 'the name does not resolve: fix DNS, or set --upstream-host (domains.<name>.host)'],
    [/EHOSTUNREACH|ENETUNREACH|ETIMEDOUT/, 'no route to the server: check the address and firewalls, or set --upstream-host'],
    [/timed out/, 'is the server reachable and answering XMPP on that port? (upstream.connectTimeoutMs sets the limit)'],
    [/does not offer STARTTLS and TLS is required/, 'enable STARTTLS on the server, or --tls off only on loopback'],
    [/requires STARTTLS but TLS is configured off/, 'use --tls required (domains.<name>.tls)'],
    [/refused STARTTLS/, "check the server's TLS certificate and settings"],
    [/no XMPP client service/i, 'its DNS says so; set --upstream-host (domains.<name>.host) if it does have a server'],
  ];
  if (message.startsWith('TLS: ') && message.includes('name checked: ')) return message;
  const fix = rules.find(([pattern]) => pattern.test(message))?.[1];
  return fix ? `${message}: ${fix.replace('<name>', d)}` : message;
}
