/* ProcessPrng, the one export of bcryptprimitives.dll that Rust's standard library uses for
 * random numbers on Windows. Debian 12's Wine (8.0) does not provide it, so the Windows
 * unit tests would not start under Wine; this stand-in draws the bytes from RtlGenRandom.
 * Built by scripts/windows-unit-tests and placed next to the test binary only. */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
