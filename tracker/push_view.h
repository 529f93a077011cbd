// Rendering of push progress for `spate push` (owned by the push command).
#pragma once
