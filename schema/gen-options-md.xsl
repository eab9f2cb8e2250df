<?xml version="1.0" encoding="UTF-8"?>
<!--
  gen-options-md.xsl: schema/config.xsd -> docs/options.md, the option
  reference.

  Run as:  xsltproc -o options.md schema/gen-options-md.xsl schema/config.xsd

  The walk of the catalogue and the checks come from gen-options-h.xsl
  (imported).  Output: one "##" section per top-level group, a "###"
  heading per option (its template) followed by a short list of its
  metadata and its help paragraph; sub-groups get a "### Group" heading
  where they start.  Text from the schema is escaped so that Markdown
  renders it literally.
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
    <xsl:text># Option reference

This file is generated from `schema/config.xsd` by `meson compile`
(`schema/gen-options-md.xsl`); do not edit it by hand.

Option names are templates. A named group appears as `group:*`, where `*`
stands for the name of one instance of the group: `channel:*.maxjobs` is
`channel:tcp_local.maxjobs` for the channel `tcp_local`. For each option:

- **Type**: the kind of value, with its range or its allowed values.
- **Default**: the value used when the option is not set, or `none`.
- **Placement**: `role` (shared by the instances of a role) or `instance`.
- **Applies on**: `refresh` (workers reload it) or `restart` (the workers
  that read it must be restarted).
- **Read by**: the services that read it.
- **Legacy name**: the configutil name it replaces, when there is one.
- **Flags**: restricted (setting it needs an explicit confirmation),
  obsolete (it can only be deleted), password (kept only in `xpass.xml`,
  never shown), multi-valued, listening port (shifted by
  `init-config --port-offset`), exclusive group (setting one member removes
  the others).

</xsl:text>
    <xsl:value-of select="count($ms-all/opt)"/>
    <xsl:text> options in </xsl:text>
    <xsl:value-of select="count($ms-all/grp[@depth = 1])"/>
    <xsl:text> groups:

</xsl:text>
    <xsl:for-each select="$ms-all/grp[@depth = 1]">
      <xsl:text>- [`</xsl:text>
      <xsl:value-of select="@tpl"/>
      <xsl:text>`](#</xsl:text>
      <xsl:call-template name="md-anchor"><xsl:with-param name="s" select="@tpl"/></xsl:call-template>
      <xsl:text>)</xsl:text>
      <xsl:if test="@doc != ''">
        <xsl:text>: </xsl:text>
        <xsl:call-template name="md-text"><xsl:with-param name="s" select="@doc"/></xsl:call-template>
      </xsl:if>
      <xsl:text>&#10;</xsl:text>
    </xsl:for-each>
    <xsl:for-each select="$ms-all/*">
      <xsl:choose>
        <xsl:when test="self::grp">
          <xsl:call-template name="md-group"/>
        </xsl:when>
        <xsl:otherwise>
          <xsl:call-template name="md-option"/>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:for-each>
  </xsl:template>

  <!-- A GitHub-style heading anchor for a code-span heading made only of
       a template: lower case, keep letters, digits, '-' and '_'. -->
  <xsl:template name="md-anchor">
    <xsl:param name="s"/>
    <xsl:variable name="low" select="translate($s, $ms-upper, $ms-lower)"/>
    <xsl:variable name="drop" select="translate($low, 'abcdefghijklmnopqrstuvwxyz0123456789-_', '')"/>
    <xsl:value-of select="translate($low, $drop, '')"/>
  </xsl:template>

  <!-- A group entered by the walk; context is a <grp>. -->
  <xsl:template name="md-group">
    <xsl:variable name="tpl" select="@tpl"/>
    <xsl:choose>
      <xsl:when test="@depth = 1">
        <xsl:text>&#10;## `</xsl:text>
        <xsl:value-of select="$tpl"/>
        <xsl:text>`&#10;</xsl:text>
      </xsl:when>
      <xsl:otherwise>
        <xsl:text>&#10;### Group `</xsl:text>
        <xsl:value-of select="$tpl"/>
        <xsl:text>`&#10;</xsl:text>
      </xsl:otherwise>
    </xsl:choose>
    <xsl:if test="@doc != ''">
      <xsl:text>&#10;</xsl:text>
      <xsl:call-template name="md-paragraph"><xsl:with-param name="s" select="@doc"/></xsl:call-template>
      <xsl:text>&#10;</xsl:text>
    </xsl:if>
    <xsl:if test="@named = 'yes'">
      <xsl:text>&#10;A named group: each `</xsl:text>
      <xsl:value-of select="concat(substring($tpl, 1, string-length($tpl) - 2), ':NAME')"/>
      <xsl:text>` holds the options below, and `*` in their names stands for NAME.&#10;</xsl:text>
    </xsl:if>
    <xsl:if test="@alias">
      <xsl:text>&#10;Also accepted as: </xsl:text>
      <xsl:call-template name="md-alias-list">
        <xsl:with-param name="list" select="concat(@alias, ' ')"/>
      </xsl:call-template>
      <xsl:text>.&#10;</xsl:text>
    </xsl:if>
    <xsl:if test="not(../opt[@group = $tpl])">
      <xsl:if test="not(../grp[@parent = $tpl])">
        <xsl:text>&#10;No options yet.&#10;</xsl:text>
      </xsl:if>
    </xsl:if>
  </xsl:template>

  <xsl:template name="md-alias-list">
    <xsl:param name="list"/>
    <xsl:param name="first" select="true()"/>
    <xsl:variable name="a" select="substring-before($list, ' ')"/>
    <xsl:if test="$a != ''">
      <xsl:if test="not($first)">, </xsl:if>
      <xsl:text>`</xsl:text>
      <xsl:if test="@parent != ''"><xsl:value-of select="concat(@parent, '.')"/></xsl:if>
      <xsl:value-of select="$a"/>
      <xsl:if test="@named = 'yes'">:*</xsl:if>
      <xsl:text>`</xsl:text>
    </xsl:if>
    <xsl:if test="substring-after($list, ' ') != ''">
      <xsl:call-template name="md-alias-list">
        <xsl:with-param name="list" select="substring-after($list, ' ')"/>
        <xsl:with-param name="first" select="$first and $a = ''"/>
      </xsl:call-template>
    </xsl:if>
  </xsl:template>

  <!-- One option; context is an <opt>. -->
  <xsl:template name="md-option">
    <xsl:variable name="m" select="m"/>
    <xsl:variable name="type" select="string($m/@type)"/>
    <xsl:text>&#10;### `</xsl:text>
    <xsl:value-of select="@tpl"/>
    <xsl:text>`&#10;&#10;</xsl:text>

    <xsl:text>- Type: </xsl:text>
    <xsl:value-of select="$type"/>
    <xsl:choose>
      <xsl:when test="$type = 'integer'">
        <xsl:choose>
          <xsl:when test="$m/@min and $m/@max">
            <xsl:value-of select="concat(', ', normalize-space($m/@min), ' to ', normalize-space($m/@max))"/>
          </xsl:when>
          <xsl:when test="$m/@min">
            <xsl:value-of select="concat(', at least ', normalize-space($m/@min))"/>
          </xsl:when>
          <xsl:when test="$m/@max">
            <xsl:value-of select="concat(', at most ', normalize-space($m/@max))"/>
          </xsl:when>
        </xsl:choose>
      </xsl:when>
      <xsl:when test="$type = 'port'">
        <xsl:text>, one or more space-separated ports, each </xsl:text>
        <xsl:choose>
          <xsl:when test="$m/@min"><xsl:value-of select="normalize-space($m/@min)"/></xsl:when>
          <xsl:otherwise>0</xsl:otherwise>
        </xsl:choose>
        <xsl:text> to </xsl:text>
        <xsl:choose>
          <xsl:when test="$m/@max"><xsl:value-of select="normalize-space($m/@max)"/></xsl:when>
          <xsl:otherwise>65535</xsl:otherwise>
        </xsl:choose>
      </xsl:when>
      <xsl:when test="$type = 'boolean'">, `0` or `1`</xsl:when>
      <xsl:when test="$type = 'enum'">
        <xsl:text>, one of </xsl:text>
        <xsl:variable name="vals">
          <xsl:choose>
            <xsl:when test="normalize-space($m/@values) != ''"><xsl:value-of select="normalize-space($m/@values)"/></xsl:when>
            <xsl:otherwise><xsl:value-of select="xsd/@values"/></xsl:otherwise>
          </xsl:choose>
        </xsl:variable>
        <xsl:call-template name="md-code-list"><xsl:with-param name="list" select="concat($vals, ' ')"/></xsl:call-template>
      </xsl:when>
      <xsl:when test="$type = 'flag'">, present or absent (no value)</xsl:when>
      <xsl:when test="$type = 'rule'">, a pattern and a template</xsl:when>
      <xsl:when test="$type = 'crontab'">, `minute hour day-of-month month day-of-week command [arguments]`</xsl:when>
    </xsl:choose>
    <xsl:text>&#10;</xsl:text>

    <xsl:text>- Default: </xsl:text>
    <xsl:choose>
      <xsl:when test="$m/@defaultfrom and $m/@default">
        <xsl:text>from `</xsl:text>
        <xsl:value-of select="$m/@defaultfrom"/>
        <xsl:text>`, else </xsl:text>
        <xsl:call-template name="md-code"><xsl:with-param name="s" select="$m/@default"/></xsl:call-template>
      </xsl:when>
      <xsl:when test="$m/@defaultfrom">
        <xsl:text>from `</xsl:text>
        <xsl:value-of select="$m/@defaultfrom"/>
        <xsl:text>`</xsl:text>
      </xsl:when>
      <xsl:when test="$m/@default">
        <xsl:call-template name="md-code"><xsl:with-param name="s" select="$m/@default"/></xsl:call-template>
      </xsl:when>
      <xsl:otherwise>none</xsl:otherwise>
    </xsl:choose>
    <xsl:text>&#10;</xsl:text>

    <xsl:text>- Placement: </xsl:text>
    <xsl:choose>
      <xsl:when test="$m/@placement = 'instance'">instance</xsl:when>
      <xsl:otherwise>role</xsl:otherwise>
    </xsl:choose>
    <xsl:text>&#10;- Applies on: </xsl:text>
    <xsl:choose>
      <xsl:when test="$m/@apply = 'restart'">restart</xsl:when>
      <xsl:otherwise>refresh</xsl:otherwise>
    </xsl:choose>
    <xsl:text>&#10;</xsl:text>

    <xsl:if test="normalize-space($m/@readers) != ''">
      <xsl:text>- Read by: </xsl:text>
      <xsl:call-template name="md-text">
        <xsl:with-param name="s">
          <xsl:call-template name="ms-replace">
            <xsl:with-param name="s" select="normalize-space($m/@readers)"/>
            <xsl:with-param name="from" select="' '"/>
            <xsl:with-param name="to" select="', '"/>
          </xsl:call-template>
        </xsl:with-param>
      </xsl:call-template>
      <xsl:text>&#10;</xsl:text>
    </xsl:if>

    <xsl:if test="$m/@legacy">
      <xsl:text>- Legacy name: </xsl:text>
      <xsl:call-template name="md-code"><xsl:with-param name="s" select="$m/@legacy"/></xsl:call-template>
      <xsl:text>&#10;</xsl:text>
    </xsl:if>

    <xsl:if test="$m/@since">
      <xsl:text>- Since: </xsl:text>
      <xsl:call-template name="md-text"><xsl:with-param name="s" select="$m/@since"/></xsl:call-template>
      <xsl:text>&#10;</xsl:text>
    </xsl:if>

    <xsl:variable name="flags">
      <xsl:if test="$m/@restricted = 'yes'">, restricted</xsl:if>
      <xsl:if test="$m/@obsolete = 'yes'">, obsolete</xsl:if>
      <xsl:if test="$type = 'password'">, password</xsl:if>
      <xsl:if test="$m/@multi = 'yes'">, multi-valued</xsl:if>
      <xsl:if test="$m/@listen = 'yes'">, listening port</xsl:if>
      <xsl:if test="$m/@exclusive">
        <xsl:text>, exclusive group </xsl:text>
        <xsl:call-template name="md-code"><xsl:with-param name="s" select="$m/@exclusive"/></xsl:call-template>
        <xsl:variable name="others"
                      select="../opt[@group = current()/@group and m/@exclusive = $m/@exclusive and @tpl != current()/@tpl]"/>
        <xsl:if test="$others">
          <xsl:text> (with </xsl:text>
          <xsl:for-each select="$others">
            <xsl:if test="position() &gt; 1">, </xsl:if>
            <xsl:value-of select="concat('`', @tpl, '`')"/>
          </xsl:for-each>
          <xsl:text>)</xsl:text>
        </xsl:if>
      </xsl:if>
    </xsl:variable>
    <xsl:if test="$flags != ''">
      <xsl:text>- Flags: </xsl:text>
      <xsl:value-of select="substring($flags, 3)"/>
      <xsl:text>&#10;</xsl:text>
    </xsl:if>

    <xsl:if test="help != ''">
      <xsl:text>&#10;</xsl:text>
      <xsl:call-template name="md-paragraph"><xsl:with-param name="s" select="help"/></xsl:call-template>
      <xsl:text>&#10;</xsl:text>
    </xsl:if>
  </xsl:template>

  <!-- "a b c " -> `a`, `b`, `c` -->
  <xsl:template name="md-code-list">
    <xsl:param name="list"/>
    <xsl:param name="first" select="true()"/>
    <xsl:variable name="a" select="substring-before($list, ' ')"/>
    <xsl:if test="$a != ''">
      <xsl:if test="not($first)">, </xsl:if>
      <xsl:call-template name="md-code"><xsl:with-param name="s" select="$a"/></xsl:call-template>
    </xsl:if>
    <xsl:if test="substring-after($list, ' ') != ''">
      <xsl:call-template name="md-code-list">
        <xsl:with-param name="list" select="substring-after($list, ' ')"/>
        <xsl:with-param name="first" select="$first and $a = ''"/>
      </xsl:call-template>
    </xsl:if>
  </xsl:template>

  <!-- A value as an inline code span.  Line breaks and tabs become spaces
       (a list item is one line); a value holding backquotes gets a
       double-backquote fence; an empty value is named, not shown. -->
  <xsl:template name="md-code">
    <xsl:param name="s"/>
    <xsl:variable name="v" select="translate($s, '&#9;&#10;&#13;', '   ')"/>
    <xsl:choose>
      <xsl:when test="$v = ''">empty string</xsl:when>
      <xsl:when test="normalize-space($v) = ''">
        <xsl:value-of select="concat('`', $v, '` (spaces)')"/>
      </xsl:when>
      <xsl:when test="contains($v, '`')">
        <xsl:value-of select="concat('`` ', $v, ' ``')"/>
      </xsl:when>
      <xsl:otherwise>
        <xsl:value-of select="concat('`', $v, '`')"/>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Inline text taken literally: backslash-escape the characters that
       Markdown (CommonMark and GitHub's extensions) would read as markup
       anywhere in a line. -->
  <xsl:template name="md-text">
    <xsl:param name="s"/>
    <xsl:call-template name="md-escape-chars">
      <xsl:with-param name="s" select="$s"/>
      <xsl:with-param name="chars" select="'\`*_[]&lt;~'"/>
    </xsl:call-template>
  </xsl:template>

  <xsl:template name="md-escape-chars">
    <xsl:param name="s"/>
    <xsl:param name="chars"/>
    <xsl:choose>
      <xsl:when test="$chars = ''"><xsl:value-of select="$s"/></xsl:when>
      <xsl:otherwise>
        <xsl:variable name="c" select="substring($chars, 1, 1)"/>
        <xsl:variable name="done">
          <xsl:call-template name="ms-replace">
            <xsl:with-param name="s" select="$s"/>
            <xsl:with-param name="from" select="$c"/>
            <xsl:with-param name="to" select="concat('\', $c)"/>
          </xsl:call-template>
        </xsl:variable>
        <!-- Backslash goes first, so later escapes are not doubled. -->
        <xsl:call-template name="md-escape-chars">
          <xsl:with-param name="s" select="$done"/>
          <xsl:with-param name="chars" select="substring($chars, 2)"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- A one-line paragraph (the text is already normalize-space'd), escaped
       inline and at its start, where "#", "-", "+", ">", "=", "|" or
       "1." would open a heading, list, quote or table. -->
  <xsl:template name="md-paragraph">
    <xsl:param name="s"/>
    <xsl:variable name="t">
      <xsl:call-template name="md-text"><xsl:with-param name="s" select="$s"/></xsl:call-template>
    </xsl:variable>
    <xsl:variable name="c" select="substring($t, 1, 1)"/>
    <xsl:choose>
      <xsl:when test="contains('#-+&gt;=|', $c) and $c != ''">
        <xsl:value-of select="concat('\', $t)"/>
      </xsl:when>
      <xsl:when test="contains('0123456789', $c) and $c != ''">
        <!-- "12. text" or "12) text": escape the '.' or ')'. -->
        <xsl:variable name="lead">
          <xsl:call-template name="md-leading-digits"><xsl:with-param name="s" select="$t"/></xsl:call-template>
        </xsl:variable>
        <xsl:variable name="after" select="substring($t, string-length($lead) + 1, 1)"/>
        <xsl:choose>
          <xsl:when test="$after = '.' or $after = ')'">
            <xsl:value-of select="concat($lead, '\', substring($t, string-length($lead) + 1))"/>
          </xsl:when>
          <xsl:otherwise><xsl:value-of select="$t"/></xsl:otherwise>
        </xsl:choose>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$t"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template name="md-leading-digits">
    <xsl:param name="s"/>
    <xsl:variable name="c" select="substring($s, 1, 1)"/>
    <xsl:if test="$c != '' and contains('0123456789', $c)">
      <xsl:value-of select="$c"/>
      <xsl:call-template name="md-leading-digits"><xsl:with-param name="s" select="substring($s, 2)"/></xsl:call-template>
    </xsl:if>
  </xsl:template>

</xsl:stylesheet>
