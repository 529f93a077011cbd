#include "push/controller.h"
