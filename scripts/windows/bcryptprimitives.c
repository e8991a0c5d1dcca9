/* ProcessPrng, for running dockdap's Windows build under Wine in CI.
 *
 * Rust's standard library on Windows takes its random numbers from
 * ProcessPrng in bcryptprimitives.dll (Windows 10 and later). Wine 8.0,
 * Debian 12's, has no such DLL, so no Rust program starts under it. This
 * stand-in, placed beside the test programs, fills the buffer from
 * RtlGenRandom (advapi32's SystemFunction036), which Wine has. It is never
 * shipped: real Windows has the real DLL. Built by scripts/check-windows.sh
 * with MinGW. */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
