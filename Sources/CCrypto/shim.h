/* OpenSSL's libcrypto (libpq links it already): SHA-256 for the stored form of bearer tokens. */
#include <openssl/sha.h>
