<?xml version="1.0" encoding="UTF-8"?>
<!--
  gen-options-table.xsl: schema/config.xsd -> options_table.c
  (ms_optdefs[], indexed by enum ms_opt, and ms_optaliases[]).

  Run as:  xsltproc -o options_table.c schema/gen-options-table.xsl schema/config.xsd

  The walk of the catalogue, the enumerator names, the checks and the C
  string escaping come from gen-options-h.xsl (imported), so the table and
  <ms/options.h> always agree.  Mapping of ms:option to struct ms_optdef:
    @type        -> .type  MS_OPT_TYPE_<TYPE>
    @min/@max    -> .min/.max  integer: the attributes, else LLONG_MIN /
                    LLONG_MAX; port: the attributes, else 0..65535;
                    boolean 0..1; other types 0, 0
    @values      -> .enumvals (enum only; else the xs:enumeration list)
    @default, @defaultfrom, @readers, @exclusive, @legacy, @since
                 -> the string fields, NULL when absent
    placement="instance", apply="restart", restricted, obsolete, multi,
    listen="yes" -> .flags (MS_OPTF_*, 0 when none)
    xs:documentation (normalize-space) -> .help ("" when absent)
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:xs="http://www.w3.org/2001/XMLSchema"
                xmlns:ms="urn:x-messaging-server:schema"
                xmlns:exsl="http://exslt.org/common"
                exclude-result-prefixes="xs ms exsl">

  <xsl:import href="gen-options-h.xsl"/>

  <xsl:output method="text" encoding="UTF-8"/>

  <xsl:template match="/">
    <xsl:call-template name="ms-check"/>
    <xsl:text>/*
 * options_table.c: the option catalogue as data.
 *
 * Generated from schema/config.xsd by schema/gen-options-table.xsl.
 * Do not edit: change the schema and rebuild.
 *
 * ms_optdefs[] is indexed by enum ms_opt (&lt;ms/options.h&gt;);
 * struct ms_optdef is described in &lt;ms/optdef.h&gt;.
 */
#include &lt;ms/options.h&gt;

const struct ms_optdef ms_optdefs[] = {
</xsl:text>
    <xsl:for-each select="$ms-all/opt">
      <xsl:call-template name="ms-table-entry"/>
    </xsl:for-each>
    <xsl:text>};

const size_t ms_optdefs_count = MS_OPT_COUNT;

/*
 * Group aliases: a second spelling accepted for a group.  Both sides are
 * full templates: the alias is the group's template with its last segment
 * respelled.  A { NULL, NULL } entry ends the array; it is not counted.
 */
const struct ms_optalias ms_optaliases[] = {
</xsl:text>
    <xsl:for-each select="$ms-all/grp[@alias]">
      <xsl:call-template name="ms-alias-each">
        <xsl:with-param name="list" select="concat(@alias, ' ')"/>
        <xsl:with-param name="mode" select="'c'"/>
      </xsl:call-template>
    </xsl:for-each>
    <xsl:text>	{ NULL, NULL }
};

const size_t ms_optaliases_count = sizeof ms_optaliases / sizeof ms_optaliases[0] - 1;
</xsl:text>
  </xsl:template>

  <!-- A decimal integer attribute as a C long long constant: no leading
       zeros (which would make it octal), LLONG_MIN spelled so that it is
       not an overflowing unary minus. -->
  <xsl:template name="ms-c-ll">
    <xsl:param name="n"/>
    <xsl:variable name="t" select="normalize-space($n)"/>
    <xsl:variable name="neg" select="starts-with($t, '-')"/>
    <xsl:variable name="digits">
      <xsl:choose>
        <xsl:when test="starts-with($t, '-') or starts-with($t, '+')"><xsl:value-of select="substring($t, 2)"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="$t"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:variable name="abs">
      <xsl:call-template name="ms-strip-zeros"><xsl:with-param name="s" select="$digits"/></xsl:call-template>
    </xsl:variable>
    <xsl:choose>
      <xsl:when test="$neg and $abs = '9223372036854775808'">(-9223372036854775807LL - 1)</xsl:when>
      <xsl:when test="$neg and $abs != '0'"><xsl:value-of select="concat('-', $abs, 'LL')"/></xsl:when>
      <xsl:otherwise><xsl:value-of select="concat($abs, 'LL')"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template name="ms-strip-zeros">
    <xsl:param name="s"/>
    <xsl:choose>
      <xsl:when test="starts-with($s, '0') and string-length($s) &gt; 1">
        <xsl:call-template name="ms-strip-zeros"><xsl:with-param name="s" select="substring($s, 2)"/></xsl:call-template>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$s"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- One designated initializer; context is an <opt> of $ms-all. -->
  <xsl:template name="ms-table-entry">
    <xsl:variable name="m" select="m"/>
    <xsl:variable name="type" select="string($m/@type)"/>
    <xsl:text>	[</xsl:text>
    <xsl:value-of select="@enum"/>
    <xsl:text>] = {&#10;		.name = </xsl:text>
    <xsl:call-template name="ms-c-string"><xsl:with-param name="s" select="@tpl"/></xsl:call-template>
    <xsl:text>,&#10;		.type = MS_OPT_TYPE_</xsl:text>
    <xsl:value-of select="translate($type, $ms-lower, $ms-upper)"/>
    <xsl:text>,&#10;		.min = </xsl:text>
    <xsl:choose>
      <xsl:when test="($type = 'integer' or $type = 'port') and $m/@min">
        <xsl:call-template name="ms-c-ll"><xsl:with-param name="n" select="$m/@min"/></xsl:call-template>
      </xsl:when>
      <xsl:when test="$type = 'integer'">(-9223372036854775807LL - 1)</xsl:when>
      <xsl:otherwise>0</xsl:otherwise>
    </xsl:choose>
    <xsl:text>,&#10;		.max = </xsl:text>
    <xsl:choose>
      <xsl:when test="($type = 'integer' or $type = 'port') and $m/@max">
        <xsl:call-template name="ms-c-ll"><xsl:with-param name="n" select="$m/@max"/></xsl:call-template>
      </xsl:when>
      <xsl:when test="$type = 'integer'">9223372036854775807LL</xsl:when>
      <xsl:when test="$type = 'port'">65535</xsl:when>
      <xsl:when test="$type = 'boolean'">1</xsl:when>
      <xsl:otherwise>0</xsl:otherwise>
    </xsl:choose>
    <xsl:text>,&#10;		.enumvals = </xsl:text>
    <xsl:choose>
      <xsl:when test="$type = 'enum' and normalize-space($m/@values) != ''">
        <xsl:call-template name="ms-c-string"><xsl:with-param name="s" select="normalize-space($m/@values)"/></xsl:call-template>
      </xsl:when>
      <xsl:when test="$type = 'enum'">
        <xsl:call-template name="ms-c-string"><xsl:with-param name="s" select="xsd/@values"/></xsl:call-template>
      </xsl:when>
      <xsl:otherwise>NULL</xsl:otherwise>
    </xsl:choose>
    <xsl:text>,&#10;		.defval = </xsl:text>
    <xsl:call-template name="ms-c-attr"><xsl:with-param name="n" select="$m/@default"/></xsl:call-template>
    <xsl:text>,&#10;		.defaultfrom = </xsl:text>
    <xsl:call-template name="ms-c-attr"><xsl:with-param name="n" select="$m/@defaultfrom"/></xsl:call-template>
    <xsl:text>,&#10;		.flags = </xsl:text>
    <xsl:variable name="flags">
      <xsl:if test="$m/@placement = 'instance'"> | MS_OPTF_INSTANCE</xsl:if>
      <xsl:if test="$m/@apply = 'restart'"> | MS_OPTF_RESTART</xsl:if>
      <xsl:if test="$m/@restricted = 'yes'"> | MS_OPTF_RESTRICTED</xsl:if>
      <xsl:if test="$m/@obsolete = 'yes'"> | MS_OPTF_OBSOLETE</xsl:if>
      <xsl:if test="$m/@multi = 'yes'"> | MS_OPTF_MULTI</xsl:if>
      <xsl:if test="$m/@listen = 'yes'"> | MS_OPTF_LISTEN</xsl:if>
    </xsl:variable>
    <xsl:choose>
      <xsl:when test="$flags = ''">0</xsl:when>
      <xsl:otherwise><xsl:value-of select="substring($flags, 4)"/></xsl:otherwise>
    </xsl:choose>
    <xsl:text>,&#10;		.readers = </xsl:text>
    <xsl:choose>
      <xsl:when test="$m/@readers">
        <xsl:call-template name="ms-c-string"><xsl:with-param name="s" select="normalize-space($m/@readers)"/></xsl:call-template>
      </xsl:when>
      <xsl:otherwise>NULL</xsl:otherwise>
    </xsl:choose>
    <xsl:text>,&#10;		.exclusive = </xsl:text>
    <xsl:call-template name="ms-c-attr"><xsl:with-param name="n" select="$m/@exclusive"/></xsl:call-template>
    <xsl:text>,&#10;		.legacy = </xsl:text>
    <xsl:call-template name="ms-c-attr"><xsl:with-param name="n" select="$m/@legacy"/></xsl:call-template>
    <xsl:text>,&#10;		.since = </xsl:text>
    <xsl:call-template name="ms-c-attr"><xsl:with-param name="n" select="$m/@since"/></xsl:call-template>
    <xsl:text>,&#10;		.help = </xsl:text>
    <xsl:call-template name="ms-c-string"><xsl:with-param name="s" select="string(help)"/></xsl:call-template>
    <xsl:text>,&#10;	},&#10;</xsl:text>
  </xsl:template>

</xsl:stylesheet>
