/* How the guest was entered; shared by head.S and C. */
#ifndef GUEST_BOOTKIND_H
#define GUEST_BOOTKIND_H
#define BOOT_KIND_LINUX32 1
#define BOOT_KIND_LINUX64 2
#define BOOT_KIND_PVH 3
#endif
