/* A small AML builder for the DSDT: enough of ACPI 6.x's encoding (section 20) for named
 * objects, integers, strings, packages, buffers, devices, scopes and resource templates.
 *
 * Nested objects are built inside-out the way AML needs them: an aml buffer is a byte string;
 * aml_scope()/aml_device()/aml_package() wrap a finished body with its opcode and PkgLength.
 * All functions record an allocation failure in the buffer (buf->error) instead of returning it,
 * so building stays readable; check aml_error() once at the end. */
#ifndef MINIVMM_AML_H
#define MINIVMM_AML_H

#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *data;
	size_t len;
	size_t cap;
	int error; /* -ENOMEM, -EINVAL (bad name, length too large), or 0 */
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
int aml_error(const struct aml *a);
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_append(struct aml *a, const struct aml *b);

/* PkgLength for a body of @body_len bytes (the encoding's own length included, as the spec
 * requires): 1 byte up to 63, else 2-4 bytes. Returns the number of bytes written to @out. */
int aml_pkglen_encode(size_t body_len, uint8_t out[4]);

/* Integers in their shortest form: ZeroOp, OneOp, BytePrefix, WordPrefix, DWordPrefix,
 * QWordPrefix (OnesOp is never used: its width depends on the table revision). */
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* A NameString: "_SB_", "COM1", "\\_SB_", "_SB_.VR00" (segments padded with '_' to 4). */
void aml_namestring(struct aml *a, const char *name);
/* EISA id such as "PNP0501" as the DWord integer ACPI uses. */
void aml_eisaid(struct aml *a, const char *id);

/* Name(NAME, <object in @value>) */
void aml_name(struct aml *a, const char *name, const struct aml *value);
void aml_name_integer(struct aml *a, const char *name, uint64_t v);
void aml_name_string(struct aml *a, const char *name, const char *s);
void aml_name_eisaid(struct aml *a, const char *name, const char *id);

/* Wrappers: opcode + PkgLength + (name) + body. */
void aml_scope(struct aml *a, const char *name, const struct aml *body);
void aml_device(struct aml *a, const char *name, const struct aml *body);
/* Package(N) { elements } where @elements holds @count encoded objects. */
void aml_package(struct aml *a, unsigned count, const struct aml *elements);
/* Buffer(len) { bytes } */
void aml_buffer(struct aml *a, const void *bytes, size_t len);

/* Resource descriptors (ACPI 6.4 section 6.4), appended to a template body. */
void aml_res_io(struct aml *r, uint16_t base, uint8_t len);
void aml_res_irq_noflags(struct aml *r, uint8_t irq);
void aml_res_memory32_fixed(struct aml *r, uint32_t base, uint32_t len, int writable);
void aml_res_interrupt(struct aml *r, uint32_t gsi, int level, int active_low);
/* ResourceTemplate(): a Buffer holding @descriptors and the End Tag. */
void aml_resource_template(struct aml *a, const struct aml *descriptors);

/* Control methods and what the GED's _EVT needs (ACPI 6.4 sections 19.6, 20.2.5). */
#define AML_SPACE_SYSTEM_IO 0x01
#define AML_FIELD_BYTE_ACC 0x01
#define AML_FIELD_WRITE_AS_ZEROS 0x40

/* Method(NAME, nargs, Serialized or NotSerialized) { body } */
void aml_method(struct aml *a, const char *name, unsigned nargs, int serialized,
		const struct aml *body);
/* OperationRegion(NAME, space, offset, length) */
void aml_operation_region(struct aml *a, const char *name, uint8_t space, uint64_t offset,
			  uint64_t len);
/* Field(REGION, flags) { NAME, bits } — one named field starting at bit 0. */
void aml_field(struct aml *a, const char *region, uint8_t flags, const char *name,
	       unsigned bits);
/* LocalN (0-7) as an operand or target. */
void aml_local(struct aml *a, unsigned n);
/* Store(src, dst): both are encoded operands (a NameString, LocalN ...). */
void aml_store(struct aml *a, const struct aml *src, const struct aml *dst);
/* And(x, y) with no target: the value of the expression. */
void aml_and(struct aml *a, const struct aml *x, const struct aml *y);
/* If(predicate) { body } */
void aml_if(struct aml *a, const struct aml *predicate, const struct aml *body);
/* Notify(object, value) */
void aml_notify(struct aml *a, const char *object, uint64_t value);

#endif
