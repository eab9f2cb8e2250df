-- TLSEverywhere: TLS on every service, and no plaintext passwords without it.
--
-- What it does:
--   * IMAP, POP and webmail: STARTTLS offered (imap.sslusessl, pop.sslusessl,
--     http.sslusessl = 1), the implicit-TLS ports enabled (imap.enablesslport,
--     pop.enablesslport, http.enablesslport = 1), and plaintext passwords
--     refused unless the connection is encrypted with at least MIN_CIPHER
--     bits (imap/pop/http.plaintextmincipher);
--   * ENS: its TLS port enabled (ens.enablesslport = 1) with the server
--     certificate CERT_NICKNAME (ens.sslnicknames);
--   * MMP: STARTTLS on the proxies (imapproxy/popproxy/submitproxy.sslenable
--     = 1); when the MMP is enabled, the IMAP and POP listeners also get
--     ssl_ports (the imap.sslport and pop.sslport values) unless they have
--     some; every virtual domain refuses plaintext passwords
--     (vdomain:*.restrictplainpasswords = 1);
--   * MTA: the SMTP_SUBMIT service also listens with TLS on SMTPS_PORT
--     (dispatcher.service:SMTP_SUBMIT.ssl_ports) when that service exists;
--     the channel tcp_local offers and uses TLS (maytls) and tcp_submit
--     requires it (musttlsserver), when those channels exist.
--   * the certificate and key every TLS listener presents: base.sslcertfile
--     and base.sslkeyfile (PEM files; CERT_FILE and KEY_FILE), and the
--     trusted authorities base.sslcafile when CA_FILE is given.
--
-- Questions (answer them with -D NAME=VALUE; -y takes the defaults):
--   MIN_CIPHER      least cipher strength for a plaintext password: 0 (any
--                   TLS), 40 or 128 (default 128)
--   CERT_NICKNAME   name of the server certificate (default Server-Cert)
--   SMTPS_PORT      TLS port of the submission service (default 465)
--   CERT_FILE       PEM certificate file (default: the current
--                   base.sslcertfile, IMTA_ROOT:config/tls/server-cert.pem)
--   KEY_FILE        PEM private key file (default: the current
--                   base.sslkeyfile, IMTA_ROOT:config/tls/server-key.pem)
--   CA_FILE         PEM file of trusted authorities (default: none, the
--                   system's trust store)
--
-- Running it again changes nothing.
description("TLS on every service; plaintext passwords only over TLS")
keywords({"TLS", "SSL", "security"})

local cipher = prompt("MIN_CIPHER",
    "Least cipher strength (bits) for a plaintext password: 0, 40 or 128?", "128",
    function(v) return v == "0" or v == "40" or v == "128", "0, 40 or 128" end)
local nickname = prompt("CERT_NICKNAME", "Name of the server certificate?", "Server-Cert",
    "[^%c]+")
local smtps = prompt("SMTPS_PORT", "TLS port of the submission service?", "465",
    function(v)
        local n = tonumber(v)
        return n ~= nil and n == math.floor(n) and n >= 1 and n <= 65535,
            "a port number from 1 to 65535"
    end)

local certfile = prompt("CERT_FILE", "PEM file of the server certificate?",
    get_option("base.sslcertfile", "IMTA_ROOT:config/tls/server-cert.pem"), "[^%c]+")
local keyfile = prompt("KEY_FILE", "PEM file of its private key?",
    get_option("base.sslkeyfile", "IMTA_ROOT:config/tls/server-key.pem"), "[^%c]+")
local cafile = prompt("CA_FILE", "PEM file of trusted authorities (empty: system store)?",
    get_option("base.sslcafile", ""))

set_option("base.sslcertfile", certfile)
set_option("base.sslkeyfile", keyfile)
if cafile ~= "" then
    set_option("base.sslcafile", cafile)
end

for _, service in ipairs({"imap", "pop", "http"}) do
    set_option(service .. ".sslusessl", "1")
    set_option(service .. ".enablesslport", "1")
    set_option(service .. ".plaintextmincipher", cipher)
end

set_option("ens.enablesslport", "1")
set_option("ens.sslnicknames", nickname)

for _, proxy in ipairs({"imapproxy", "popproxy", "submitproxy"}) do
    set_option(proxy .. ".sslenable", "1")
end
if get_option("mmp.enable") == "1" then
    for _, l in ipairs({{"imapproxy", "imapproxy1", "imap.sslport"},
                        {"popproxy", "popproxy1", "pop.sslport"}}) do
        local listener = l[1] .. ".tcp_listen:" .. l[2]
        if exists_group(listener) and not exists_option(listener .. ".ssl_ports") then
            set_option(listener .. ".ssl_ports", get_option(l[3]))
        end
    end
end
for _, vdomain in ipairs(list_groups("vdomain")) do
    set_option("vdomain:" .. vdomain .. ".restrictplainpasswords", "1")
end

if exists_group("dispatcher.service:SMTP_SUBMIT") then
    set_option("dispatcher.service:SMTP_SUBMIT.ssl_ports", smtps)
end
if exists_channel("tcp_local") then
    set_option("channel:tcp_local.maytls")
end
if exists_channel("tcp_submit") then
    set_option("channel:tcp_submit.musttlsserver")
end
