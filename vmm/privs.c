#include "vmm/privs.h"

#include <cap-ng.h>
#include <errno.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm/parse.h"

int privs_no_new_privs(struct errmsg *err)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return errmsg_set(err, -errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	return 0;
}

int privs_parse_user(const char *arg, struct privs_config *cfg, struct errmsg *err)
{
	char uid[24];
	const char *colon = strchr(arg, ':');
	size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
	uint64_t u, g;

	/* Numbers only: a name would need NSS, which a static binary cannot load. (uid_t)-1
	 * means "unchanged" to setresuid, so it is no user. */
	if (len == 0 || len >= sizeof(uid))
		return errmsg_set(err, -EINVAL, "--user %s: expected UID or UID:GID (numbers)", arg);
	memcpy(uid, arg, len);
	uid[len] = '\0';
	if (parse_uint(uid, 0, 0xfffffffeULL, &u))
		return errmsg_set(err, -EINVAL, "--user %s: bad UID '%s' (a number, 0-4294967294)",
				  arg, uid);
	g = u;
	if (colon && parse_uint(colon + 1, 0, 0xfffffffeULL, &g))
		return errmsg_set(err, -EINVAL, "--user %s: bad GID '%s' (a number, 0-4294967294)",
				  arg, colon + 1);
	cfg->set_user = true;
	cfg->uid = (uid_t)u;
	cfg->gid = (gid_t)g;
	return 0;
}

static const char *change_id_step(int rc)
{
	switch (rc) {
	case -2: case -7: return "PR_SET_KEEPCAPS";
	case -3: return "cannot take CAP_SETUID/CAP_SETGID/CAP_SETPCAP";
	case -4: return "setresgid";
	case -5: return "clearing the supplementary groups";
	case -6: return "setresuid";
	case -8: return "clearing the capability bounding set";
	case -9: return "dropping the capabilities";
	}
	return "reading this process's capabilities";
}

/* What the kernel says this thread holds now: every set empty (ambient is a subset of
 * permitted), and with --user, that user and group and no others. */
static int privs_check(const struct privs_config *cfg, struct errmsg *err)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (syscall(SYS_capget, &hdr, data) < 0)
		return errmsg_set(err, -errno, "privilege drop: capget: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return errmsg_set(err, -EPERM, "privilege drop: capabilities still held (0x%x 0x%x 0x%x)",
					  data[i].effective, data[i].permitted, data[i].inheritable);
	if (!cfg->set_user)
		return 0;
	if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0 || r != cfg->uid ||
	    e != cfg->uid || s != cfg->uid || rg != cfg->gid || eg != cfg->gid || sg != cfg->gid ||
	    getgroups(0, NULL) != 0)
		return errmsg_set(err, -EPERM, "--user %u:%u: the user switch did not take",
				  (unsigned)cfg->uid, (unsigned)cfg->gid);
	return 0;
}

int privs_drop(const struct privs_config *cfg, struct errmsg *err)
{
	bool setpcap, setids;
	int rc;

	/* Read before a chroot hides /proc (libcap-ng reads the bounding set and the last
	 * capability number there). */
	if (capng_get_caps_process() < 0)
		return errmsg_set(err, -EPERM, "privilege drop: cannot read this process's capabilities");
	setpcap = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP) == 1;
	setids = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETUID) == 1 &&
		 capng_have_capability(CAPNG_EFFECTIVE, CAP_SETGID) == 1;
	if (cfg->set_user && !setids)
		return errmsg_set(err, -EPERM, "--user %u:%u: switching user needs root (CAP_SETUID and CAP_SETGID)",
				  (unsigned)cfg->uid, (unsigned)cfg->gid);
	if (cfg->chroot) {
		if (chroot(cfg->chroot) < 0)
			return errmsg_set(err, -errno, "--chroot %s: %s", cfg->chroot, strerror(errno));
		if (chdir("/") < 0)
			return errmsg_set(err, -errno, "--chroot %s: chdir /: %s", cfg->chroot,
					  strerror(errno));
	}
	capng_clear(CAPNG_SELECT_BOTH);
	if (cfg->set_user) {
		/* Keeps capabilities across the switch only to clear the bounding set and the
		 * groups, then applies the empty set. */
		rc = capng_change_id((int)cfg->uid, (int)cfg->gid,
				     CAPNG_DROP_SUPP_GRP | (setpcap ? CAPNG_CLEAR_BOUNDING : 0));
		if (rc)
			return errmsg_set(err, -EPERM, "--user %u:%u: %s: %s", (unsigned)cfg->uid,
					  (unsigned)cfg->gid, change_id_step(rc), strerror(errno));
	} else {
		/* uid 0 stays uid 0 without capabilities: lock the securebits so that nothing
		 * (no execve, no setuid fixup) hands them back. Needs CAP_SETPCAP, like clearing
		 * the bounding set; an unprivileged user has neither and needs neither. */
		if (setpcap &&
		    prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
				    SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
				    SECBIT_KEEP_CAPS_LOCKED, 0, 0, 0) < 0)
			return errmsg_set(err, -errno, "privilege drop: securebits: %s", strerror(errno));
		/* The bounding set only where CAP_SETPCAP allows (libcap-ng skips it otherwise). */
		if (capng_apply(CAPNG_SELECT_BOTH) < 0)
			return errmsg_set(err, -errno, "privilege drop: %s", strerror(errno));
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return errmsg_set(err, -errno, "privilege drop: ambient capabilities: %s",
				  strerror(errno));
	rc = privs_no_new_privs(err);
	return rc ? rc : privs_check(cfg, err);
}
