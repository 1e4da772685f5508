#include "source/zookeeper/staged_index.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace flinkbr::source::zookeeper {

Digester::Digester() : ctx_(EVP_MD_CTX_new()) {}

Digester::~Digester() {
  EVP_MD_CTX_free(ctx_);
}

std::array<unsigned char, 16> Digester::of(std::string_view data) {
  unsigned char full[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx_, full, &len) != 1)
    throw std::runtime_error("SHA-256 failed");  // out of memory in OpenSSL
  std::array<unsigned char, 16> out;
  std::memcpy(out.data(), full, out.size());
  return out;
}

Meta make_meta(std::string rel, Znode& z, AclTable& acls, Digester& digester) {
  Meta m;
  m.rel = std::move(rel);
  m.null_data = !z.data;
  if (z.data) m.digest = digester.of(*z.data);
  m.acl = acls.intern(std::move(z.acl));
  m.ephemeral = z.ephemeral;
  return m;
}

std::string describe_acl(const std::vector<Acl>& acl) {
  std::string s;
  for (const auto& a : acl)
    s += (s.empty() ? "" : ",") + a.scheme + ":" + a.id + ":" + std::to_string(a.perms);
  return s;
}

std::string parent_view(std::string_view rel) {
  auto slash = rel.rfind('/');
  return slash == 0 ? "/" : std::string(rel.substr(0, slash));
}

}  // namespace flinkbr::source::zookeeper
