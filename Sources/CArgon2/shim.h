#include <argon2.h>
/* getrandom(2), the kernel's generator, for salts and tokens: Glibc's Swift module does not export it. */
#include <sys/random.h>
