#include "apiserver/tls.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <memory>

#include "core/files.h"

namespace polarstack::apiserver {

namespace {

using core::Code;
using core::fail;

struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct X509Free { void operator()(X509* p) const { X509_free(p); } };
struct BioFree { void operator()(BIO* p) const { BIO_free(p); } };
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Bio = std::unique_ptr<BIO, BioFree>;

std::string bio_string(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<size_t>(n));
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key`, named `cn`, signed by `signer` (self-signed when null).
core::Result<Cert> make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer_cert, EVP_PKEY* signer, bool ca) {
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("polarstack"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuer = issuer_cert ? issuer_cert : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer));
  bool ok = ca ? add_ext(cert.get(), issuer, NID_basic_constraints, "critical,CA:TRUE") &&
                     add_ext(cert.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign") &&
                     add_ext(cert.get(), issuer, NID_subject_key_identifier, "hash")
               : add_ext(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE") &&
                     add_ext(cert.get(), issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
                     add_ext(cert.get(), issuer, NID_ext_key_usage, "serverAuth") &&
                     add_ext(cert.get(), issuer, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  if (!ok) return fail(Code::kInternal, "cannot add certificate extensions");
  if (X509_sign(cert.get(), signer ? signer : key, EVP_sha256()) == 0) return fail(Code::kInternal, "cannot sign certificate");
  return cert;
}

std::string pem_of(X509* cert) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), cert);
  return bio_string(b.get());
}

std::string pem_of(EVP_PKEY* key) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_string(b.get());
}

}  // namespace

core::Result<TlsFiles> ensure_tls(const std::string& dir) {
  TlsFiles f{dir + "/ca.crt", dir + "/server.crt", dir + "/server.key", ""};
  if (!core::file_exists(f.ca_cert_path) || !core::file_exists(f.cert_path) || !core::file_exists(f.key_path)) {
    Pkey ca_key(EVP_EC_gen("P-256"));
    Pkey server_key(EVP_EC_gen("P-256"));
    if (!ca_key || !server_key) return fail(Code::kInternal, "cannot generate TLS keys");
    auto ca = make_cert(ca_key.get(), "polarstack-ca", nullptr, nullptr, true);
    if (!ca) return fail(ca.error());
    auto server = make_cert(server_key.get(), "polarstack-apiserver", ca->get(), ca_key.get(), false);
    if (!server) return fail(server.error());
    // The CA key is not kept: nothing else is ever signed with it.
    if (auto st = core::write_file_atomic(f.key_path, pem_of(server_key.get()), 0600); !st) return fail(st.error());
    if (auto st = core::write_file_atomic(f.cert_path, pem_of(server->get()), 0644); !st) return fail(st.error());
    if (auto st = core::write_file_atomic(f.ca_cert_path, pem_of(ca->get()), 0644); !st) return fail(st.error());
  }
  auto ca_pem = core::read_file(f.ca_cert_path);
  if (!ca_pem) return fail(ca_pem.error());
  f.ca_pem = *ca_pem;
  return f;
}

}  // namespace polarstack::apiserver
