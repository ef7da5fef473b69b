#include "core/base64.h"

#include <openssl/evp.h>

#include <cctype>

namespace polarstack::core {

std::string base64_encode(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> base64_decode(const std::string& text) {
  std::string clean;
  for (char c : text) if (!std::isspace(static_cast<unsigned char>(c))) clean += c;
  if (clean.size() % 4 != 0) return fail(Code::kInvalid, "not valid base64 (length)");
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) return fail(Code::kInvalid, "not valid base64");
  size_t pad = 0;
  if (!clean.empty() && clean.back() == '=') pad++;
  if (clean.size() > 1 && clean[clean.size() - 2] == '=') pad++;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

}  // namespace polarstack::core
