/* halo_signal: SIGINT/SIGTERM set a flag, nothing else; SIGPIPE is ignored
 * so a peer closing a socket is an error return, not a death. */
#include "halo_signal.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t s_interrupted = 0;

static void s_handler(int signum)
{
    (void)signum;
    s_interrupted = 1;
}

void halo_signal_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool halo_signal_interrupted(void)
{
    return s_interrupted != 0;
}

void halo_signal_raise(void)
{
    s_interrupted = 1;
}

void halo_signal_reset(void)
{
    s_interrupted = 0;
}
