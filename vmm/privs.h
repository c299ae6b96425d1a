/* Least privilege after setup: capabilities, user, file-system root (libcap-ng).
 *
 * Everything that needs privilege (/dev/kvm, images opened and locked, taps, the control
 * socket, guest RAM) is done by the time vm_create() returns; privs_drop() then takes away
 * what is left, in the main thread before any other thread exists, so every thread inherits
 * the result. docs/hardening.md says what each step isolates. */
#ifndef MINIVMM_PRIVS_H
#define MINIVMM_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

#include "vmm/errmsg.h"

struct privs_config {
	bool set_user;       /* --user UID[:GID] */
	uid_t uid;
	gid_t gid;
	const char *chroot;  /* --chroot DIR, or NULL */
};

/* PR_SET_NO_NEW_PRIVS for this thread and every thread it creates from now on: no execve can
 * grant privilege again, and seccomp filters can be installed without CAP_SYS_ADMIN. Done
 * first, before any helper thread starts. */
int privs_no_new_privs(struct errmsg *err) __attribute__((warn_unused_result));

/* After setup: --chroot, then --user (supplementary groups cleared), then every capability
 * dropped from the effective, permitted, inheritable and ambient sets and, where this process
 * may (CAP_SETPCAP), from the bounding set; securebits locked so uid 0 gets none back. Checks
 * the result. */
int privs_drop(const struct privs_config *cfg, struct errmsg *err)
	__attribute__((warn_unused_result));

/* "UID" or "UID:GID" (numbers; GID defaults to UID) for --user. */
int privs_parse_user(const char *arg, struct privs_config *cfg, struct errmsg *err)
	__attribute__((warn_unused_result));

#endif
