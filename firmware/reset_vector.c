#include "firmware/reset_vector.h"

int firmware_reset_vector(struct guest_mem *gm, struct errmsg *err)
{
	static const uint8_t stub[] = {
		0xb0, 0xfe, /* mov al, 0xfe: the i8042's "pulse reset line" command */
		0xe6, 0x64, /* out 0x64, al */
		0xf4,       /* hlt (not reached: the VMM resets the machine) */
		0xeb, 0xfd, /* jmp back to hlt */
	};
	int ret = gm_write(gm, RESET_VECTOR_ADDR, stub, sizeof(stub));

	return ret ? errmsg_set(err, ret, "reset vector: guest memory too small") : 0;
}
