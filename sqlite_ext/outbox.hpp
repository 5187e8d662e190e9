// The outbox (docs/DESIGN.md §4 Outbox): the body of outbox_emit, registered by
// sqlite_ext/extension.cpp.
#pragma once

#include "sqlite_ext/arguments.hpp"

namespace exactly_once::sqlite::outbox {

void outbox_emit(Call& call);  // (topic, key, payload [, headers]) -> the event id (UUIDv7 text)

}  // namespace exactly_once::sqlite::outbox
