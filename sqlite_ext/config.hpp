// Settings and connection-level functions: exactly_once_config, exactly_once_trust_schema,
// exactly_once_version and exactly_once_now, registered by sqlite_ext/extension.cpp.
#pragma once

#include "sqlite_ext/arguments.hpp"

namespace exactly_once::sqlite::config {

void exactly_once_config(Call& call);        // (name [, value]) -> the setting's (new) value
void exactly_once_trust_schema(Call& call);  // (schema) -> the attached database's name
void exactly_once_version(Call& call);       // () -> the library version
void exactly_once_upgrade(Call& call);       // () -> the schema version now in the file
void exactly_once_now(Call& call);           // () -> the connection's clock, Unix ms

}  // namespace exactly_once::sqlite::config
