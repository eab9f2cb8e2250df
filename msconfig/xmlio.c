/*
 * xmlio: config.xml and xpass.xml (see xmlio.h).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/optkey.h>
#include <ms/optname.h>
#include <ms/path.h>
#include <ms/utf8.h>

#include "model.h"
#include "xmlio.h"

#define XC(s) ((const xmlChar *)(s))

/* libxml2 reports errors through a callback; collect them into a buffer. */
struct err_sink {
	struct ms_buf *why;
	const char *filename;
	int count;
};

static void sink_structured(void *ctx, xmlErrorPtr err)
{
	struct err_sink *sink = ctx;

	if (sink == NULL || err == NULL || sink->count >= 10)
		return;
	if (sink->count > 0)
		ms_buf_putc(sink->why, '\n');
	size_t len = err->message ? strlen(err->message) : 0;
	while (len > 0 && err->message[len - 1] == '\n')
		len--;
	ms_buf_printf(sink->why, "%s:%d:%d: %.*s", sink->filename, err->line,
		      err->int2 > 0 ? err->int2 : 1, (int)len,
		      err->message ? err->message : "error");
	sink->count++;
}

static xmlDocPtr parse_doc(const char *data, size_t len, const char *filename,
			   struct ms_buf *why)
{
	struct err_sink sink = {why, filename, 0};
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;

	ms_buf_reset(why);
	if (len > (size_t)1 << 30) {
		ms_buf_setf(why, "%s: file too large", filename);
		return NULL;
	}
	ctxt = xmlNewParserCtxt();
	if (ctxt == NULL) {
		ms_buf_setf(why, "%s: cannot create XML parser", filename);
		return NULL;
	}
	xmlSetStructuredErrorFunc(&sink, sink_structured);
	doc = xmlCtxtReadMemory(ctxt, data, (int)len, filename, "UTF-8",
				XML_PARSE_NONET | XML_PARSE_NOCDATA);
	xmlSetStructuredErrorFunc(NULL, NULL);
	if (doc == NULL || ctxt->wellFormed == 0) {
		if (why->len == 0)
			ms_buf_setf(why, "%s:1:1: not well-formed XML", filename);
		if (doc != NULL)
			xmlFreeDoc(doc);
		doc = NULL;
	}
	xmlFreeParserCtxt(ctxt);
	return doc;
}

static char *prop(xmlNodePtr n, const char *name)
{
	xmlChar *v = xmlGetProp(n, XC(name));
	char *r;

	if (v == NULL)
		return NULL;
	r = ms_xstrdup((const char *)v);
	xmlFree(v);
	return r;
}

static bool has_element_children(xmlNodePtr n)
{
	for (xmlNodePtr c = n->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return true;
	return false;
}

/* Is key (no names inside) the path of a group, such as "imap.logfile"? */
static bool is_group(const char *key)
{
	size_t len = strlen(key);

	if (strchr(key, ':') != NULL)
		return false;
	for (size_t i = 0; i < ms_optdefs_count; i++) {
		const char *t = ms_optdefs[i].name;
		if (strncmp(t, key, len) == 0 && t[len] == '.')
			return true;
	}
	return false;
}

struct load_ctx {
	struct mc_config *cfg;
	const char *filename;
	struct ms_buf *why;
	int depth;
};

static int load_option(struct load_ctx *lc, enum ms_scope scope, xmlNodePtr n,
		       const char *key)
{
	struct ms_optname name;
	struct ms_buf v;
	int ret = -1;

	if (ms_optname_from_key(key, &name) < 0) {
		ms_buf_setf(lc->why, "%s:%ld:1: unknown option '%s'", lc->filename,
			    xmlGetLineNo(n), key);
		return -1;
	}
	name.scope = scope;
	ms_buf_init(&v);
	if (name.def->type == MS_OPT_TYPE_RULE) {
		char *pat = prop(n, "pattern"), *tpl = prop(n, "template");
		if (pat == NULL || tpl == NULL) {
			ms_buf_setf(lc->why,
				    "%s:%ld:1: rule '%s' needs pattern and template attributes",
				    lc->filename, xmlGetLineNo(n), key);
			free(pat);
			free(tpl);
			goto out;
		}
		/* A blank inside a pattern is written "$ " in the text form. */
		for (const char *c = pat; *c != '\0'; c++) {
			if (*c == '$' && c[1] != '\0') {
				ms_buf_putc(&v, *c++);
				ms_buf_putc(&v, *c);
				continue;
			}
			if (*c == ' ' || *c == '\t')
				ms_buf_putc(&v, '$');
			ms_buf_putc(&v, *c);
		}
		ms_buf_printf(&v, " %s", tpl);
		free(pat);
		free(tpl);
	} else if (name.def->type != MS_OPT_TYPE_FLAG) {
		char *val = prop(n, "v");
		if (val == NULL) {
			ms_buf_setf(lc->why, "%s:%ld:1: option '%s' has no v attribute",
				    lc->filename, xmlGetLineNo(n), key);
			goto out;
		}
		ms_buf_puts(&v, val);
		free(val);
	}
	/*
	 * An option given twice (or a value of a multi-valued option repeated)
	 * is an error a hand edit makes: say where, rather than guess which one
	 * the administrator meant.
	 */
	struct ms_buf ckey, why2;
	ms_buf_init(&ckey);
	ms_buf_init(&why2);
	ms_optname_key(&name, &ckey);
	size_t before = lc->cfg->n;
	bool dup = false;
	for (size_t i = 0; i < lc->cfg->n && !dup; i++) {
		const struct mc_entry *e = &lc->cfg->entries[i];
		dup = e->name.scope == scope && strcmp(e->key, ckey.data) == 0 &&
		      (!(name.def->flags & MS_OPTF_MULTI) || strcmp(e->value, v.data) == 0);
	}
	if (dup) {
		ms_buf_setf(lc->why, "%s:%ld:1: %s.%s is given twice%s", lc->filename,
			    xmlGetLineNo(n), scope == MS_SCOPE_INSTANCE ? "instance" : "role",
			    ckey.data, (name.def->flags & MS_OPTF_MULTI) ? " with the same value" : "");
	} else if (mc_config_set(lc->cfg, &name, v.data, MC_SET_LOADING, NULL, NULL, &why2) < 0) {
		ms_buf_setf(lc->why, "%s:%ld:1: %s", lc->filename, xmlGetLineNo(n), why2.data);
	} else if (lc->cfg->n == before + 1) {
		/* Keep the provenance attributes the seed's config.xml carries. */
		struct mc_entry *e = &lc->cfg->entries[lc->cfg->n - 1];
		e->annotation = prop(n, "xannotation");
		e->author = prop(n, "xauthor");
		e->mtime = prop(n, "xmtime");
		ret = 0;
	} else {
		ret = 0; /* a normalised value equal to one already there */
	}
	ms_buf_deinit(&ckey);
	ms_buf_deinit(&why2);
out:
	ms_buf_deinit(&v);
	ms_optname_deinit(&name);
	return ret;
}

static int load_group(struct load_ctx *lc, enum ms_scope scope, xmlNodePtr group,
		      struct ms_buf *prefix)
{
	if (++lc->depth > 16) {
		ms_buf_setf(lc->why, "%s:%ld:1: groups nested too deeply", lc->filename,
			    xmlGetLineNo(group));
		return -1;
	}
	for (xmlNodePtr n = group->children; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		size_t mark = prefix->len;
		if (mark > 0)
			ms_buf_putc(prefix, '.');
		ms_buf_puts(prefix, (const char *)n->name);
		bool kids = has_element_children(n);
		char *gname = prop(n, "name");
		int r = 0;
		if (gname != NULL && !ms_utf8_text(gname, false)) {
			ms_buf_setf(lc->why,
				    "%s:%ld:1: the group name of <%s> holds a control character",
				    lc->filename, xmlGetLineNo(n), (const char *)n->name);
			free(gname);
			return -1;
		}
		if (gname != NULL) {
			ms_buf_putc(prefix, ':');
			ms_optkey_escape_name(prefix, gname);
			free(gname);
			/* An empty named group (<channel name="x"/>) holds nothing. */
			if (kids)
				r = load_group(lc, scope, n, prefix);
		} else if (kids) {
			r = load_group(lc, scope, n, prefix);
		} else if (!is_group(prefix->data)) {
			r = load_option(lc, scope, n, prefix->data);
		}
		ms_buf_truncate(prefix, mark);
		if (r < 0)
			return -1;
	}
	lc->depth--;
	return 0;
}

int mc_xml_parse_config(const char *data, size_t len, const char *filename,
			struct mc_config **cfg_r, struct ms_buf *why)
{
	xmlDocPtr doc = parse_doc(data, len, filename, why);
	xmlNodePtr root;
	struct mc_config *cfg;
	struct ms_buf prefix;
	int ret = -1;

	if (doc == NULL)
		return -1;
	root = xmlDocGetRootElement(doc);
	if (root == NULL || strcmp((const char *)root->name, "xconfig") != 0) {
		ms_buf_setf(why, "%s:%ld:1: the root element must be <xconfig>", filename,
			    root ? xmlGetLineNo(root) : 1L);
		xmlFreeDoc(doc);
		return -1;
	}
	cfg = ms_xcalloc(1, sizeof(*cfg));
	char *seq = prop(root, "seq");
	cfg->seq = seq ? strtoul(seq, NULL, 10) : 0;
	free(seq);
	cfg->author = prop(root, "xauthor");
	cfg->mtime = prop(root, "xmtime");
	cfg->comment = prop(root, "xcomment");
	ms_buf_init(&prefix);
	struct load_ctx lc = {cfg, filename, why, 0};
	for (xmlNodePtr n = root->children; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		enum ms_scope scope;
		if (strcmp((const char *)n->name, "role") == 0) {
			scope = MS_SCOPE_ROLE;
			free(cfg->role_name);
			cfg->role_name = prop(n, "name");
		} else if (strcmp((const char *)n->name, "instance") == 0) {
			scope = MS_SCOPE_INSTANCE;
			free(cfg->instance_name);
			cfg->instance_name = prop(n, "name");
		} else {
			ms_buf_setf(why, "%s:%ld:1: unexpected element <%s> (want role or instance)",
				    filename, xmlGetLineNo(n), (const char *)n->name);
			goto out;
		}
		ms_buf_reset(&prefix);
		lc.depth = 0;
		if (load_group(&lc, scope, n, &prefix) < 0)
			goto out;
	}
	if (cfg->role_name == NULL)
		cfg->role_name = ms_xstrdup("default");
	if (cfg->instance_name == NULL)
		cfg->instance_name = ms_xstrdup("ims");
	ret = 0;
out:
	ms_buf_deinit(&prefix);
	xmlFreeDoc(doc);
	if (ret < 0)
		mc_config_free(&cfg);
	else
		*cfg_r = cfg;
	return ret;
}

/* ---- base64: xpass.xml keeps passwords obfuscated, as the seed does ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(struct ms_buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		ms_buf_putc(out, b64[(v >> 18) & 63]);
		ms_buf_putc(out, b64[(v >> 12) & 63]);
		ms_buf_putc(out, i + 1 < len ? b64[(v >> 6) & 63] : '=');
		ms_buf_putc(out, i + 2 < len ? b64[v & 63] : '=');
	}
}

static int b64_decode(struct ms_buf *out, const char *s)
{
	unsigned v = 0;
	int bits = 0;

	for (; *s != '\0' && *s != '='; s++) {
		const char *c = strchr(b64, *s);
		if (c == NULL || *s == '\0')
			return -1;
		v = (v << 6) | (unsigned)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			ms_buf_putc(out, (char)((v >> bits) & 0xff));
		}
	}
	return 0;
}

int mc_xml_parse_xpass(const char *data, size_t len, const char *filename,
		       struct mc_config *cfg, unsigned long *seq_r, struct ms_buf *why)
{
	xmlDocPtr doc = parse_doc(data, len, filename, why);
	xmlNodePtr root;
	int ret = -1;

	if (doc == NULL)
		return -1;
	root = xmlDocGetRootElement(doc);
	if (root == NULL || strcmp((const char *)root->name, "xpass") != 0) {
		ms_buf_setf(why, "%s:1:1: the root element must be <xpass>", filename);
		goto out;
	}
	char *seq = prop(root, "seq");
	*seq_r = seq ? strtoul(seq, NULL, 10) : 0;
	free(seq);
	for (xmlNodePtr n = root->children; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		char *name = prop(n, "name"), *v = prop(n, "v");
		struct ms_optname on;
		struct ms_buf plain;
		int r = -1;
		ms_buf_init(&plain);
		if (name == NULL || v == NULL) {
			ms_buf_setf(why, "%s:%ld:1: <option> needs name and v", filename,
				    xmlGetLineNo(n));
		} else if (ms_optname_parse(name, &on, why) < 0) {
			struct ms_buf tmp;
			ms_buf_init(&tmp);
			ms_buf_printf(&tmp, "%s:%ld:1: %s", filename, xmlGetLineNo(n), why->data);
			ms_buf_setf(why, "%s", tmp.data);
			ms_buf_deinit(&tmp);
		} else {
			if (on.scope == MS_SCOPE_NONE)
				on.scope = MS_SCOPE_ROLE;
			if (on.def->type != MS_OPT_TYPE_PASSWORD)
				ms_buf_setf(why, "%s:%ld:1: %s is not a password option", filename,
					    xmlGetLineNo(n), name);
			else if (b64_decode(&plain, v) < 0)
				ms_buf_setf(why, "%s:%ld:1: value of %s is not base64", filename,
					    xmlGetLineNo(n), name);
			else
				r = mc_config_set(cfg, &on, plain.data, MC_SET_LOADING, NULL,
						  NULL, why);
			ms_optname_deinit(&on);
		}
		ms_buf_deinit(&plain);
		free(name);
		free(v);
		if (r < 0)
			goto out;
	}
	ret = 0;
out:
	xmlFreeDoc(doc);
	return ret;
}

/* ---- writing ---- */

static xmlNodePtr child_group(xmlNodePtr parent, const char *elem, size_t len,
			      const char *name)
{
	char *e = ms_xstrndup(elem, len);
	xmlNodePtr found = NULL;

	/* Siblings come in schema order, so the group is usually the last child. */
	for (xmlNodePtr c = parent->last; c != NULL && found == NULL; c = c->prev) {
		if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, e) != 0)
			continue;
		xmlChar *nm = xmlGetProp(c, XC("name"));
		bool match = name == NULL ? nm == NULL
					  : nm != NULL && strcmp((const char *)nm, name) == 0;
		if (nm != NULL)
			xmlFree(nm);
		if (match)
			found = c;
	}
	if (found == NULL) {
		found = xmlNewChild(parent, NULL, XC(e), NULL);
		if (name != NULL)
			xmlSetProp(found, XC("name"), XC(name));
	}
	free(e);
	return found;
}

static void add_entry(xmlNodePtr scope, const struct mc_entry *e)
{
	const char *t = e->name.def->name;
	xmlNodePtr parent = scope;
	size_t k = 0;

	for (;;) {
		const char *dot = strchr(t, '.');
		if (dot == NULL)
			break;
		size_t len = (size_t)(dot - t);
		if (len >= 2 && t[len - 1] == '*' && t[len - 2] == ':')
			parent = child_group(parent, t, len - 2, e->name.names[k++]);
		else
			parent = child_group(parent, t, len, NULL);
		t = dot + 1;
	}
	xmlNodePtr opt = xmlNewChild(parent, NULL, XC(t), NULL);
	if (e->name.def->type == MS_OPT_TYPE_RULE) {
		char *pat, *tpl;
		mc_rule_split(e->value, &pat, &tpl);
		xmlSetProp(opt, XC("pattern"), XC(pat));
		xmlSetProp(opt, XC("template"), XC(tpl));
		free(pat);
		free(tpl);
	} else if (e->name.def->type != MS_OPT_TYPE_FLAG) {
		xmlSetProp(opt, XC("v"), XC(e->value));
	}
	if (e->annotation)
		xmlSetProp(opt, XC("xannotation"), XC(e->annotation));
	if (e->author)
		xmlSetProp(opt, XC("xauthor"), XC(e->author));
	if (e->mtime)
		xmlSetProp(opt, XC("xmtime"), XC(e->mtime));
}

static xmlSchemaPtr schema_get(struct ms_buf *why)
{
	static xmlSchemaPtr schema;
	if (schema != NULL)
		return schema;
	char *path = ms_data_path("config.xsd");
	struct err_sink sink = {why, path, 0};
	xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(path);
	if (pc != NULL) {
		xmlSchemaSetParserStructuredErrors(pc, sink_structured, &sink);
		schema = xmlSchemaParse(pc);
		xmlSchemaFreeParserCtxt(pc);
	}
	if (schema == NULL && why->len == 0)
		ms_buf_setf(why, "cannot load the schema %s", path);
	free(path);
	return schema;
}

static int validate_doc(xmlDocPtr doc, const char *filename, struct ms_buf *why)
{
	xmlSchemaPtr schema = schema_get(why);
	struct err_sink sink = {why, filename, 0};
	xmlSchemaValidCtxtPtr vc;
	int r;

	if (schema == NULL)
		return -1;
	vc = xmlSchemaNewValidCtxt(schema);
	xmlSchemaSetValidStructuredErrors(vc, sink_structured, &sink);
	r = xmlSchemaValidateDoc(vc, doc);
	xmlSchemaFreeValidCtxt(vc);
	if (r != 0 && why->len == 0)
		ms_buf_setf(why, "%s: does not conform to the schema", filename);
	return r == 0 ? 0 : -1;
}

int mc_xml_validate(const char *data, size_t len, const char *filename, struct ms_buf *why)
{
	xmlDocPtr doc = parse_doc(data, len, filename, why);
	int r;

	if (doc == NULL)
		return -1;
	r = validate_doc(doc, filename, why);
	xmlFreeDoc(doc);
	return r;
}

int mc_xml_build_config(const struct mc_config *cfg, struct ms_buf *out, struct ms_buf *why)
{
	struct mc_config *sorted = mc_config_clone(cfg);
	xmlDocPtr doc = xmlNewDoc(XC("1.0"));
	xmlNodePtr root = xmlNewNode(NULL, XC("xconfig"));
	xmlNodePtr role, inst;
	char seq[32];
	int ret;

	mc_config_sort(sorted);
	xmlDocSetRootElement(doc, root);
	snprintf(seq, sizeof(seq), "%lu", cfg->seq);
	xmlSetProp(root, XC("seq"), XC(seq));
	if (cfg->author)
		xmlSetProp(root, XC("xauthor"), XC(cfg->author));
	if (cfg->mtime)
		xmlSetProp(root, XC("xmtime"), XC(cfg->mtime));
	if (cfg->comment)
		xmlSetProp(root, XC("xcomment"), XC(cfg->comment));
	role = xmlNewChild(root, NULL, XC("role"), NULL);
	xmlSetProp(role, XC("name"), XC(cfg->role_name ? cfg->role_name : "default"));
	inst = xmlNewChild(root, NULL, XC("instance"), NULL);
	xmlSetProp(inst, XC("name"), XC(cfg->instance_name ? cfg->instance_name : "ims"));
	xmlSetProp(inst, XC("roleref"), XC(cfg->role_name ? cfg->role_name : "default"));
	for (size_t i = 0; i < sorted->n; i++) {
		const struct mc_entry *e = &sorted->entries[i];
		if (e->name.def->type == MS_OPT_TYPE_PASSWORD)
			continue;
		add_entry(e->name.scope == MS_SCOPE_INSTANCE ? inst : role, e);
	}
	mc_config_free(&sorted);
	ms_buf_reset(why);
	ret = validate_doc(doc, "config.xml", why);
	if (ret == 0) {
		xmlChar *mem = NULL;
		int size = 0;
		xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 1);
		ms_buf_reset(out);
		ms_buf_append(out, mem, (size_t)size);
		xmlFree(mem);
	}
	xmlFreeDoc(doc);
	return ret;
}

void mc_xml_build_xpass(const struct mc_config *cfg, struct ms_buf *out)
{
	ms_buf_reset(out);
	ms_buf_printf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xpass seq=\"%lu\">\n",
		      cfg->seq);
	for (size_t i = 0; i < cfg->n; i++) {
		const struct mc_entry *e = &cfg->entries[i];
		if (e->name.def->type != MS_OPT_TYPE_PASSWORD)
			continue;
		struct ms_buf name, attr;
		ms_buf_init(&name);
		ms_buf_init(&attr);
		ms_optname_display(&e->name, true, &name);
		/* Escape the name for an XML attribute. */
		for (const char *p = name.data; *p != '\0'; p++) {
			switch (*p) {
			case '&': ms_buf_puts(&attr, "&amp;"); break;
			case '<': ms_buf_puts(&attr, "&lt;"); break;
			case '>': ms_buf_puts(&attr, "&gt;"); break;
			case '"': ms_buf_puts(&attr, "&quot;"); break;
			case '\n': ms_buf_puts(&attr, "&#10;"); break;
			case '\r': ms_buf_puts(&attr, "&#13;"); break;
			case '\t': ms_buf_puts(&attr, "&#9;"); break;
			default: ms_buf_putc(&attr, *p);
			}
		}
		ms_buf_printf(out, "  <option name=\"%s\" v=\"", attr.data);
		b64_encode(out, e->value);
		ms_buf_puts(out, "\"/>\n");
		ms_buf_deinit(&name);
		ms_buf_deinit(&attr);
	}
	ms_buf_puts(out, "</xpass>\n");
}
