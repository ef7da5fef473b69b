// CustomResourceDefinitions generated from the kinds in api/kinds.h.
#pragma once

#include <string>

#include "api/kinds.h"

namespace polarstack::api {

OrderedJson crd(const KindInfo& kind);
// Every CRD as one YAML stream, as checked in under deploy/crds/.
std::string crds_yaml();

}  // namespace polarstack::api
