#include "tracker/push_view.h"
