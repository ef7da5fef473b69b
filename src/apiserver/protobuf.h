// Kubernetes' protobuf request bodies (Content-Type application/vnd.kubernetes.protobuf),
// as kubectl sends them for built-in kinds: the "k8s\0" magic, a runtime.Unknown
// envelope, and the object's own message in it. Decoded into the JSON object the rest of
// the server works with, for the kinds people create imperatively: Namespace, ConfigMap
// and Secret. Answers are always JSON (kubectl accepts it). Any other kind, a field the
// definitions in proto/k8s_core.proto do not cover, or a malformed body is refused with
// a reason (kUnsupported or kBadRequest), never half-read. Thread-safe; pure.
#pragma once

#include <string_view>

#include "apiserver/registry.h"
#include "core/error.h"
#include "core/json.h"

namespace polarstack::apiserver {

// True for the media types of Kubernetes' protobuf encoding.
bool is_protobuf_media_type(std::string_view content_type);

// Decodes `body` as an object of kind `rt` (the kind the URL names). The envelope's
// apiVersion and kind, when set, must match it.
core::Result<core::Json> decode_protobuf_object(std::string_view body, const ResourceType& rt);

}  // namespace polarstack::apiserver
