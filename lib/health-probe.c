/* SPDX-License-Identifier: MIT */
/*
 * health-probe.c - the static health-probe program for Docker HEALTHCHECK
 * in images without a shell or curl.  All of it is health_probe_main(),
 * which services also reach through their own --probe flag.
 */
#include <health/health.h>

int main(int argc, char **argv)
{
    return health_probe_main(argc, argv);
}
