# lib/probe.cmake - the health-probe client.
#
# Included from the top-level CMakeLists.txt once the `health` target
# exists.  Two products from the same lib/probe.c:
#   - health_probe_main() inside libhealth, for a service's --probe mode;
#   - the fully static `health-probe` program, for HEALTHCHECK in images
#     that have no shell, no curl and possibly no libc.
#
# The program is built with musl-gcc (Debian: musl-tools) when found, else
# with the host compiler and -static (glibc; the probe does no name
# lookups, so it needs no NSS).  It is compiled by a custom command, not
# add_executable(), so that it never inherits the main build's flags or
# sanitizers (a sanitizer runtime cannot be linked statically with musl).
#
# Sets HEALTH_PROBE_PATH (the built program) for the tests.
# Cache: HEALTH_PROBE_CC overrides the compiler used for the program.

target_sources(health PRIVATE ${PROJECT_SOURCE_DIR}/lib/probe.c)

find_program(HEALTH_MUSL_GCC musl-gcc DOC "musl-gcc, for health-probe")
set(HEALTH_PROBE_CC "" CACHE STRING
    "Compiler for the static health-probe, a path or a name on PATH (empty: musl-gcc, else the C compiler)")
if(HEALTH_PROBE_CC)
    set(_health_probe_cc ${HEALTH_PROBE_CC})
elseif(HEALTH_MUSL_GCC)
    set(_health_probe_cc ${HEALTH_MUSL_GCC})
else()
    set(_health_probe_cc ${CMAKE_C_COMPILER})
    message(STATUS "health-probe: musl-gcc not found (apt-get install "
                   "musl-tools); linking statically against glibc, "
                   "which makes a much larger binary")
endif()

set(_health_probe_sources
    ${PROJECT_SOURCE_DIR}/lib/probe.c
    ${PROJECT_SOURCE_DIR}/lib/health-probe.c)
# Small and self-contained: size-optimised, unused sections dropped,
# symbols stripped, no unwind tables (C, no exceptions).
set(_health_probe_flags
    -std=c11 -D_POSIX_C_SOURCE=200809L ${HEALTH_WARNINGS}
    -Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables
    -I${PROJECT_SOURCE_DIR}/include
    -static -s -Wl,--gc-sections)
if(HEALTH_WERROR)
    list(APPEND _health_probe_flags -Werror)
endif()

# In a subdirectory: an output file named like the target would clash
# with the target's own name under Ninja.
set(HEALTH_PROBE_PATH ${PROJECT_BINARY_DIR}/bin/health-probe)
add_custom_command(
    OUTPUT ${HEALTH_PROBE_PATH}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/bin
    COMMAND ${_health_probe_cc} ${_health_probe_flags}
            -o ${HEALTH_PROBE_PATH} ${_health_probe_sources}
    DEPENDS ${_health_probe_sources}
            ${PROJECT_SOURCE_DIR}/include/health/health.h
            ${PROJECT_SOURCE_DIR}/lib/probe.cmake
    COMMENT "Building static health-probe with ${_health_probe_cc}"
    COMMAND_EXPAND_LISTS VERBATIM)
add_custom_target(health-probe ALL DEPENDS ${HEALTH_PROBE_PATH})

install(PROGRAMS ${HEALTH_PROBE_PATH} DESTINATION ${CMAKE_INSTALL_BINDIR})

unset(_health_probe_cc)
unset(_health_probe_sources)
unset(_health_probe_flags)
