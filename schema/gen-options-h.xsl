<?xml version="1.0" encoding="UTF-8"?>
<!--
  gen-options-h.xsl: schema/config.xsd -> include/ms/options.h (enum ms_opt).

  Run as:  xsltproc -o options.h schema/gen-options-h.xsl schema/config.xsd

  This stylesheet also holds the one walk of the option catalogue that every
  generator shares: gen-options-table.xsl and gen-options-md.xsl import it
  (xsl:import) and override only the root template, so the enumerator names,
  the traversal order and the checks cannot drift apart.  A build that lists
  those two stylesheets should therefore also depend on this file.

  The walk (schema conventions, see the comment at the top of config.xsd):
  - It starts at xs:complexType[@name='scope']; each xs:element there names
    a top-level group whose type is a complexType carrying <ms:group/>.
  - Inside a group, an xs:element carrying
    xs:annotation/xs:appinfo/ms:option is an option; an xs:element without
    one whose @type (or inline complexType) carries ms:group is a sub-group,
    walked recursively.  Anything else is an error.
  - A group whose ms:group has named="yes" contributes "NAME:*" to the
    template, otherwise "NAME".  Template = group segments joined with '.',
    then '.', then the option element's name ("channel:*.maxjobs").
  - Options come out in document order of this depth-first walk.

  Enumerator rule: "MS_OPT_" + the template with every ":*" removed,
  upper-cased (ASCII), and every character other than A-Z 0-9 replaced by
  '_': "imapproxy.tcp_listen:*.tcp_ports" -> MS_OPT_IMAPPROXY_TCP_LISTEN_TCP_PORTS.
  Two options mapping to one enumerator stop the build (xsl:message
  terminate="yes"), as do the other convention errors checked in ms-check.

  XSLT 1.0 plus exsl:node-set (libxslt provides it).
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:xs="http://www.w3.org/2001/XMLSchema"
                xmlns:ms="urn:x-messaging-server:schema"
                xmlns:exsl="http://exslt.org/common"
                exclude-result-prefixes="xs ms exsl">

  <xsl:output method="text" encoding="UTF-8"/>
  <xsl:strip-space elements="*"/>

  <xsl:key name="ms-ct" match="xs:complexType[@name]" use="@name"/>
  <xsl:key name="ms-st" match="xs:simpleType[@name]" use="@name"/>

  <xsl:variable name="ms-lower" select="'abcdefghijklmnopqrstuvwxyz'"/>
  <xsl:variable name="ms-upper" select="'ABCDEFGHIJKLMNOPQRSTUVWXYZ'"/>
  <xsl:variable name="ms-alnum"
                select="'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'"/>
  <xsl:variable name="ms-underscores"
                select="'________________________________________________________________________________________________________________________________________________________________________________________________________________________________________________________________'"/>
  <!-- Values the generators understand; anything else is an error. -->
  <xsl:variable name="ms-types"
                select="' string integer boolean enum flag port path rule password crontab '"/>
  <xsl:variable name="ms-known-attrs"
                select="' type default defaultfrom placement apply readers legacy since exclusive min max values restricted obsolete multi listen '"/>
  <!-- The workers schema/README.md allows in readers=. -->
  <xsl:variable name="ms-readers"
                select="' all watcher store imap pop http mta dispatcher job_controller mmp sched ldap msconfig '"/>
  <!-- Names optdef.h already uses in the MS_OPT_ space. -->
  <xsl:variable name="ms-reserved"
                select="' MS_OPT_COUNT MS_OPT_TYPE_STRING MS_OPT_TYPE_INTEGER MS_OPT_TYPE_BOOLEAN MS_OPT_TYPE_ENUM MS_OPT_TYPE_FLAG MS_OPT_TYPE_PORT MS_OPT_TYPE_PATH MS_OPT_TYPE_RULE MS_OPT_TYPE_PASSWORD MS_OPT_TYPE_CRONTAB MS_OPT_TYPE_COUNT '"/>

  <!-- ============================================================ -->
  <!-- The walk: $ms-all is a flat list, in traversal order, of     -->
  <!--   <grp tpl top parent name depth ctype named alias doc/>    -->
  <!--        (a group entered; top = template of its top group)    -->
  <!--   <opt tpl enum top group name>  (group = parent template)   -->
  <!--     <m ...ms:option attributes.../>                          -->
  <!--     <xsd values min max vtype eltype/>  (from the XSD proper)-->
  <!--     <help>normalized text</help>                             -->
  <!--   </opt>                                                     -->
  <!-- ============================================================ -->
  <xsl:variable name="ms-rtf">
    <xsl:variable name="scope" select="/xs:schema/xs:complexType[@name='scope']"/>
    <xsl:if test="not($scope)">
      <xsl:message terminate="yes">config.xsd: no xs:complexType named 'scope' (the root of the option catalogue)</xsl:message>
    </xsl:if>
    <xsl:for-each select="$scope">
      <xsl:call-template name="ms-walk-group">
        <xsl:with-param name="ct" select="."/>
        <xsl:with-param name="path" select="''"/>
        <xsl:with-param name="top" select="''"/>
        <xsl:with-param name="depth" select="0"/>
      </xsl:call-template>
    </xsl:for-each>
  </xsl:variable>
  <xsl:variable name="ms-all" select="exsl:node-set($ms-rtf)"/>

  <!-- Local part of a QName ("xs:string" -> "string"). -->
  <xsl:template name="ms-local">
    <xsl:param name="q"/>
    <xsl:choose>
      <xsl:when test="contains($q, ':')"><xsl:value-of select="substring-after($q, ':')"/></xsl:when>
      <xsl:otherwise><xsl:value-of select="$q"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Walk the content model of complexType $ct (context: inside the
       schema document).  $path is the template of the group ('' for scope). -->
  <xsl:template name="ms-walk-group">
    <xsl:param name="ct"/>
    <xsl:param name="path"/>
    <xsl:param name="top"/>
    <xsl:param name="depth"/>
    <xsl:variable name="ctid" select="generate-id($ct)"/>
    <!-- The particles of $ct: its xs:elements whose nearest enclosing
         element-or-complexType is $ct itself (whatever choice/sequence
         nesting), so the inline types of option elements are not entered. -->
    <xsl:for-each select="$ct//xs:element[generate-id((ancestor::xs:complexType | ancestor::xs:element)[last()]) = $ctid]">
      <xsl:variable name="where">
        <xsl:choose>
          <xsl:when test="$path = ''">xs:complexType 'scope'</xsl:when>
          <xsl:otherwise>group '<xsl:value-of select="$path"/>'</xsl:otherwise>
        </xsl:choose>
      </xsl:variable>
      <xsl:if test="not(@name)">
        <xsl:message terminate="yes">config.xsd: an xs:element without a name attribute in <xsl:value-of select="$where"/> (xs:element ref= is not part of the conventions)</xsl:message>
      </xsl:if>
      <xsl:if test="contains(@name, '.')">
        <xsl:message terminate="yes">config.xsd: element '<xsl:value-of select="@name"/>' in <xsl:value-of select="$where"/>: a '.' inside a name would make templates ambiguous</xsl:message>
      </xsl:if>
      <xsl:variable name="type-local">
        <xsl:call-template name="ms-local"><xsl:with-param name="q" select="@type"/></xsl:call-template>
      </xsl:variable>
      <xsl:variable name="gct"
                    select="(key('ms-ct', string($type-local)) | xs:complexType)[xs:annotation/xs:appinfo/ms:group]"/>
      <xsl:variable name="opt" select="xs:annotation/xs:appinfo/ms:option"/>
      <xsl:choose>
        <xsl:when test="$opt and $path = ''">
          <xsl:message terminate="yes">config.xsd: option element '<xsl:value-of select="@name"/>' directly in xs:complexType 'scope'; every option belongs to a group</xsl:message>
        </xsl:when>
        <xsl:when test="count($opt) &gt; 1">
          <xsl:message terminate="yes">config.xsd: option '<xsl:value-of select="concat($path, '.', @name)"/>' carries more than one ms:option</xsl:message>
        </xsl:when>
        <xsl:when test="$opt">
          <xsl:call-template name="ms-collect-option">
            <xsl:with-param name="opt" select="$opt"/>
            <xsl:with-param name="path" select="$path"/>
            <xsl:with-param name="top" select="$top"/>
          </xsl:call-template>
        </xsl:when>
        <xsl:when test="count($gct) = 1">
          <xsl:variable name="g" select="$gct/xs:annotation/xs:appinfo/ms:group"/>
          <xsl:variable name="seg">
            <xsl:value-of select="@name"/>
            <xsl:if test="$g/@named = 'yes'">:*</xsl:if>
          </xsl:variable>
          <xsl:variable name="tpl">
            <xsl:if test="$path != ''"><xsl:value-of select="concat($path, '.')"/></xsl:if>
            <xsl:value-of select="$seg"/>
          </xsl:variable>
          <xsl:variable name="newtop">
            <xsl:choose>
              <xsl:when test="$top = ''"><xsl:value-of select="$tpl"/></xsl:when>
              <xsl:otherwise><xsl:value-of select="$top"/></xsl:otherwise>
            </xsl:choose>
          </xsl:variable>
          <grp tpl="{$tpl}" top="{$newtop}" parent="{$path}" name="{@name}" depth="{$depth + 1}" ctype="{$gct/@name}">
            <xsl:attribute name="named">
              <xsl:choose>
                <xsl:when test="$g/@named = 'yes'">yes</xsl:when>
                <xsl:otherwise>no</xsl:otherwise>
              </xsl:choose>
            </xsl:attribute>
            <xsl:if test="$g/@named and $g/@named != 'yes' and $g/@named != 'no'">
              <xsl:message terminate="yes">config.xsd: group '<xsl:value-of select="$tpl"/>': ms:group/@named is '<xsl:value-of select="$g/@named"/>', want yes or no</xsl:message>
            </xsl:if>
            <xsl:if test="$g/@alias">
              <xsl:attribute name="alias"><xsl:value-of select="normalize-space($g/@alias)"/></xsl:attribute>
            </xsl:if>
            <xsl:attribute name="doc">
              <xsl:call-template name="ms-doc"><xsl:with-param name="n" select="$gct"/></xsl:call-template>
            </xsl:attribute>
          </grp>
          <xsl:call-template name="ms-walk-group">
            <xsl:with-param name="ct" select="$gct"/>
            <xsl:with-param name="path" select="string($tpl)"/>
            <xsl:with-param name="top" select="string($newtop)"/>
            <xsl:with-param name="depth" select="$depth + 1"/>
          </xsl:call-template>
        </xsl:when>
        <xsl:when test="count($gct) &gt; 1">
          <xsl:message terminate="yes">config.xsd: element '<xsl:value-of select="@name"/>' in <xsl:value-of select="$where"/> has both a named and an inline group type</xsl:message>
        </xsl:when>
        <xsl:otherwise>
          <xsl:message terminate="yes">config.xsd: element '<xsl:value-of select="@name"/>' in <xsl:value-of select="$where"/> is neither an option (no xs:annotation/xs:appinfo/ms:option) nor a group (type '<xsl:value-of select="@type"/>' is not a complexType carrying ms:group)</xsl:message>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:for-each>
  </xsl:template>

  <!-- Help text: every xs:documentation of the annotation, whitespace
       normalized into one paragraph. -->
  <xsl:template name="ms-doc">
    <xsl:param name="n"/>
    <xsl:variable name="raw">
      <xsl:for-each select="$n/xs:annotation/xs:documentation">
        <xsl:value-of select="concat(' ', ., ' ')"/>
      </xsl:for-each>
    </xsl:variable>
    <xsl:value-of select="normalize-space($raw)"/>
  </xsl:template>

  <!-- One <opt> record; context is the option's xs:element. -->
  <xsl:template name="ms-collect-option">
    <xsl:param name="opt"/>
    <xsl:param name="path"/>
    <xsl:param name="top"/>
    <xsl:variable name="tpl" select="concat($path, '.', @name)"/>
    <!-- The attribute v of the option element, inline or through a named
         complexType, and the simple type that constrains it. -->
    <xsl:variable name="el-type">
      <xsl:call-template name="ms-local"><xsl:with-param name="q" select="@type"/></xsl:call-template>
    </xsl:variable>
    <xsl:variable name="v"
                  select="(xs:complexType | key('ms-ct', string($el-type)))/descendant::xs:attribute[@name = 'v'][1]"/>
    <xsl:variable name="v-type">
      <xsl:call-template name="ms-local"><xsl:with-param name="q" select="$v/@type"/></xsl:call-template>
    </xsl:variable>
    <xsl:variable name="facets" select="$v/xs:simpleType | key('ms-st', string($v-type))"/>
    <opt tpl="{$tpl}" top="{$top}" group="{$path}" name="{@name}">
      <xsl:attribute name="enum">
        <xsl:call-template name="ms-enum-name"><xsl:with-param name="tpl" select="$tpl"/></xsl:call-template>
      </xsl:attribute>
      <m>
        <xsl:for-each select="$opt/@*">
          <xsl:attribute name="{local-name()}"><xsl:value-of select="."/></xsl:attribute>
        </xsl:for-each>
      </m>
      <xsd>
        <xsl:if test="$facets//xs:enumeration">
          <xsl:attribute name="values">
            <xsl:for-each select="$facets//xs:enumeration">
              <xsl:if test="position() &gt; 1"><xsl:text> </xsl:text></xsl:if>
              <xsl:value-of select="@value"/>
            </xsl:for-each>
          </xsl:attribute>
        </xsl:if>
        <xsl:if test="$facets//xs:minInclusive">
          <xsl:attribute name="min"><xsl:value-of select="($facets//xs:minInclusive)[1]/@value"/></xsl:attribute>
        </xsl:if>
        <xsl:if test="$facets//xs:maxInclusive">
          <xsl:attribute name="max"><xsl:value-of select="($facets//xs:maxInclusive)[1]/@value"/></xsl:attribute>
        </xsl:if>
        <xsl:attribute name="vtype"><xsl:value-of select="$v-type"/></xsl:attribute>
        <xsl:attribute name="eltype"><xsl:value-of select="$el-type"/></xsl:attribute>
      </xsd>
      <help>
        <xsl:call-template name="ms-doc"><xsl:with-param name="n" select="."/></xsl:call-template>
      </help>
    </opt>
  </xsl:template>

  <!-- The enumerator rule (see the header of this file). -->
  <xsl:template name="ms-enum-name">
    <xsl:param name="tpl"/>
    <xsl:variable name="nostar">
      <xsl:call-template name="ms-replace">
        <xsl:with-param name="s" select="$tpl"/>
        <xsl:with-param name="from" select="':*'"/>
        <xsl:with-param name="to" select="''"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="up" select="translate($nostar, $ms-lower, $ms-upper)"/>
    <!-- The characters of $up that are not A-Z 0-9, each mapped to '_'. -->
    <xsl:variable name="bad" select="translate($up, $ms-alnum, '')"/>
    <xsl:value-of select="concat('MS_OPT_', translate($up, $bad, substring($ms-underscores, 1, string-length($bad))))"/>
  </xsl:template>

  <!-- ============================================================ -->
  <!-- Checks: convention errors stop the build; with warn='yes',   -->
  <!-- doubtful metadata is reported on stderr (only this           -->
  <!-- stylesheet warns, so a build prints each warning once).      -->
  <!-- ============================================================ -->
  <xsl:template name="ms-check">
    <xsl:param name="warn" select="'no'"/>
    <xsl:if test="not($ms-all/opt)">
      <xsl:message terminate="yes">config.xsd: the walk from xs:complexType 'scope' found no option</xsl:message>
    </xsl:if>
    <xsl:for-each select="$ms-all/opt">
      <xsl:variable name="m" select="m"/>
      <xsl:variable name="tpl" select="@tpl"/>
      <xsl:variable name="dup" select="preceding-sibling::opt[@enum = current()/@enum][1]"/>
      <xsl:if test="$dup">
        <xsl:message terminate="yes">config.xsd: options '<xsl:value-of select="$dup/@tpl"/>' and '<xsl:value-of select="$tpl"/>' both map to the enumerator <xsl:value-of select="@enum"/>; rename one of them</xsl:message>
      </xsl:if>
      <xsl:if test="contains($ms-reserved, concat(' ', @enum, ' '))">
        <xsl:message terminate="yes">config.xsd: option '<xsl:value-of select="$tpl"/>' maps to <xsl:value-of select="@enum"/>, a name include/ms/optdef.h already uses</xsl:message>
      </xsl:if>
      <xsl:if test="not($m/@type) or not(contains($ms-types, concat(' ', $m/@type, ' ')))">
        <xsl:message terminate="yes">config.xsd: option '<xsl:value-of select="$tpl"/>': ms:option/@type is '<xsl:value-of select="$m/@type"/>', want one of<xsl:value-of select="substring($ms-types, 1, string-length($ms-types) - 1)"/></xsl:message>
      </xsl:if>
      <xsl:if test="$m/@placement and $m/@placement != 'role' and $m/@placement != 'instance'">
        <xsl:message terminate="yes">config.xsd: option '<xsl:value-of select="$tpl"/>': placement is '<xsl:value-of select="$m/@placement"/>', want role or instance</xsl:message>
      </xsl:if>
      <xsl:if test="$m/@apply and $m/@apply != 'refresh' and $m/@apply != 'restart'">
        <xsl:message terminate="yes">config.xsd: option '<xsl:value-of select="$tpl"/>': apply is '<xsl:value-of select="$m/@apply"/>', want refresh or restart</xsl:message>
      </xsl:if>
      <xsl:for-each select="$m/@restricted | $m/@obsolete | $m/@multi | $m/@listen">
        <xsl:if test=". != 'yes' and . != 'no'">
          <xsl:message terminate="yes">config.xsd: option '<xsl:value-of select="$tpl"/>': <xsl:value-of select="name()"/> is '<xsl:value-of select="."/>', want yes or no</xsl:message>
        </xsl:if>
      </xsl:for-each>
      <xsl:for-each select="$m/@min | $m/@max">
        <xsl:variable name="n" select="normalize-space(.)"/>
        <xsl:variable name="digits">
          <xsl:choose>
            <xsl:when test="starts-with($n, '-') or starts-with($n, '+')"><xsl:value-of select="substring($n, 2)"/></xsl:when>
            <xsl:otherwise><xsl:value-of select="$n"/></xsl:otherwise>
          </xsl:choose>
        </xsl:variable>
        <xsl:if test="$digits = '' or translate($digits, '0123456789', '') != '' or string-length($digits) &gt; 19">
          <xsl:message terminate="yes">config.xsd: option '<xsl:value-of select="$tpl"/>': <xsl:value-of select="name()"/>="<xsl:value-of select="."/>" is not a 64-bit decimal integer</xsl:message>
        </xsl:if>
      </xsl:for-each>
      <xsl:if test="$m/@min and $m/@max and number($m/@min) &gt; number($m/@max)">
        <xsl:message terminate="yes">config.xsd: option '<xsl:value-of select="$tpl"/>': min <xsl:value-of select="$m/@min"/> is greater than max <xsl:value-of select="$m/@max"/></xsl:message>
      </xsl:if>
      <xsl:if test="$m/@type = 'enum' and normalize-space($m/@values) = '' and not(xsd/@values)">
        <xsl:message terminate="yes">config.xsd: enum option '<xsl:value-of select="$tpl"/>' lists no values (ms:option/@values or xs:enumeration)</xsl:message>
      </xsl:if>
      <xsl:if test="$m/@defaultfrom and not($ms-all/opt[@tpl = $m/@defaultfrom])">
        <xsl:message terminate="yes">config.xsd: option '<xsl:value-of select="$tpl"/>': defaultfrom '<xsl:value-of select="$m/@defaultfrom"/>' is not an option template</xsl:message>
      </xsl:if>

      <xsl:if test="$warn = 'yes'">
        <xsl:call-template name="ms-warn-option"/>
      </xsl:if>
    </xsl:for-each>

    <xsl:if test="$warn = 'yes'">
      <xsl:variable name="reached" select="$ms-all/grp/@ctype"/>
      <xsl:for-each select="/xs:schema/xs:complexType[@name and xs:annotation/xs:appinfo/ms:group]">
        <xsl:if test="not(@name = $reached)">
          <xsl:message>config.xsd: warning: group type '<xsl:value-of select="@name"/>' cannot be reached from xs:complexType 'scope'; its options are left out</xsl:message>
        </xsl:if>
      </xsl:for-each>
    </xsl:if>

    <!-- Aliases must not shadow a real group or option, nor each other. -->
    <xsl:for-each select="$ms-all/grp[@alias]">
      <xsl:call-template name="ms-alias-each">
        <xsl:with-param name="list" select="concat(@alias, ' ')"/>
        <xsl:with-param name="mode" select="'check'"/>
      </xsl:call-template>
    </xsl:for-each>
  </xsl:template>

  <!-- Warnings: metadata that disagrees with the XSD proper, or that the
       generators do not use. -->
  <xsl:template name="ms-warn-option">
    <xsl:variable name="m" select="m"/>
    <xsl:variable name="tpl" select="@tpl"/>
    <xsl:for-each select="$m/@*">
      <xsl:if test="not(contains($ms-known-attrs, concat(' ', local-name(), ' ')))">
        <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': unknown ms:option attribute <xsl:value-of select="local-name()"/> (ignored)</xsl:message>
      </xsl:if>
    </xsl:for-each>
    <xsl:if test="not($m/@placement)">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>' has no placement (role assumed)</xsl:message>
    </xsl:if>
    <xsl:if test="not($m/@apply)">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>' has no apply (refresh assumed)</xsl:message>
    </xsl:if>
    <xsl:if test="not($m/@readers)">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>' has no readers</xsl:message>
    </xsl:if>
    <xsl:if test="help = ''">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>' has no xs:documentation</xsl:message>
    </xsl:if>
    <xsl:variable name="rd" select="normalize-space($m/@readers)"/>
    <xsl:if test="$rd != ''">
      <xsl:call-template name="ms-warn-readers">
        <xsl:with-param name="list" select="concat($rd, ' ')"/>
        <xsl:with-param name="tpl" select="$tpl"/>
      </xsl:call-template>
    </xsl:if>
    <xsl:if test="$m/@type = 'integer' and not($m/@min and $m/@max)">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': an integer without both min and max</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@type = 'rule' and not($m/@multi = 'yes')">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': a rule without multi="yes"</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@type = 'password' and not(contains(help, 'xpass.xml'))">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': a password whose help does not say "Kept only in xpass.xml."</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@type = 'enum' and $m/@values and xsd/@values and normalize-space($m/@values) != xsd/@values">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': values "<xsl:value-of select="$m/@values"/>" differ from the xs:enumeration list "<xsl:value-of select="xsd/@values"/>"</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@type != 'enum' and $m/@values">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': values given for type <xsl:value-of select="$m/@type"/> (ignored)</xsl:message>
    </xsl:if>
    <xsl:if test="($m/@min or $m/@max) and $m/@type != 'integer' and $m/@type != 'port'">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': min/max given for type <xsl:value-of select="$m/@type"/> (ignored)</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@type = 'integer' and ((xsd/@min and not($m/@min)) or ($m/@min and xsd/@min and number(xsd/@min) != number($m/@min)))">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': min "<xsl:value-of select="$m/@min"/>" differs from xs:minInclusive "<xsl:value-of select="xsd/@min"/>"</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@type = 'integer' and ((xsd/@max and not($m/@max)) or ($m/@max and xsd/@max and number(xsd/@max) != number($m/@max)))">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': max "<xsl:value-of select="$m/@max"/>" differs from xs:maxInclusive "<xsl:value-of select="xsd/@max"/>"</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@type = 'integer' and (($m/@min and not(xsd/@min)) or ($m/@max and not(xsd/@max)))">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': min/max not enforced by the XSD (no xs:minInclusive/xs:maxInclusive on attribute v)</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@default and $m/@type = 'enum'">
      <xsl:variable name="vals">
        <xsl:choose>
          <xsl:when test="$m/@values"><xsl:value-of select="normalize-space($m/@values)"/></xsl:when>
          <xsl:otherwise><xsl:value-of select="xsd/@values"/></xsl:otherwise>
        </xsl:choose>
      </xsl:variable>
      <xsl:if test="not(contains(concat(' ', $vals, ' '), concat(' ', $m/@default, ' ')))">
        <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': default "<xsl:value-of select="$m/@default"/>" is not one of its values</xsl:message>
      </xsl:if>
    </xsl:if>
    <xsl:if test="$m/@default and $m/@type = 'boolean' and $m/@default != '0' and $m/@default != '1'">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': boolean default "<xsl:value-of select="$m/@default"/>" is not 0 or 1</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@default and $m/@type = 'integer' and (string(number($m/@default)) = 'NaN' or ($m/@min and number($m/@default) &lt; number($m/@min)) or ($m/@max and number($m/@default) &gt; number($m/@max)))">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': integer default "<xsl:value-of select="$m/@default"/>" is outside [<xsl:value-of select="$m/@min"/>, <xsl:value-of select="$m/@max"/>]</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@default and $m/@type = 'flag'">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': a flag has no value, yet default="<xsl:value-of select="$m/@default"/>"</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@default and $m/@type = 'password'">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': a password with a default</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@exclusive and count(../opt[@group = current()/@group and m/@exclusive = $m/@exclusive]) &lt; 2">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': exclusive group '<xsl:value-of select="$m/@exclusive"/>' has no other member in group '<xsl:value-of select="@group"/>'</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@listen = 'yes' and $m/@type != 'port'">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': listen="yes" on a <xsl:value-of select="$m/@type"/></xsl:message>
    </xsl:if>
    <xsl:if test="$m/@type = 'port' and xsd/@vtype != 't.port'">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': a port whose attribute v is not of type t.port</xsl:message>
    </xsl:if>
    <xsl:if test="$m/@type = 'boolean' and xsd/@vtype != 't.boolean'">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': a boolean whose attribute v is not of type t.boolean</xsl:message>
    </xsl:if>
  </xsl:template>

  <xsl:template name="ms-warn-readers">
    <xsl:param name="list"/>
    <xsl:param name="tpl"/>
    <xsl:variable name="r" select="substring-before($list, ' ')"/>
    <xsl:if test="$r != '' and not(contains($ms-readers, concat(' ', $r, ' ')))">
      <xsl:message>config.xsd: warning: option '<xsl:value-of select="$tpl"/>': reader '<xsl:value-of select="$r"/>' is not one of<xsl:value-of select="substring($ms-readers, 1, string-length($ms-readers) - 1)"/></xsl:message>
    </xsl:if>
    <xsl:if test="substring-after($list, ' ') != ''">
      <xsl:call-template name="ms-warn-readers">
        <xsl:with-param name="list" select="substring-after($list, ' ')"/>
        <xsl:with-param name="tpl" select="$tpl"/>
      </xsl:call-template>
    </xsl:if>
  </xsl:template>

  <!-- Aliases of a <grp> (context): ms:group/@alias is one spelling or a
       space-separated list.  An alias is given as a full template, the
       group's own template with its last segment respelled, so that
       "imaproxy" -> "imapproxy" and, nested, "a.alias:*" -> "a.name:*".
       mode 'check' verifies; mode 'c' emits C initializers. -->
  <xsl:template name="ms-alias-each">
    <xsl:param name="list"/>
    <xsl:param name="mode"/>
    <xsl:variable name="a" select="substring-before($list, ' ')"/>
    <xsl:if test="$a != ''">
      <xsl:variable name="atpl">
        <xsl:if test="@parent != ''"><xsl:value-of select="concat(@parent, '.')"/></xsl:if>
        <xsl:value-of select="$a"/>
        <xsl:if test="@named = 'yes'">:*</xsl:if>
      </xsl:variable>
      <xsl:choose>
        <xsl:when test="$mode = 'check'">
          <xsl:if test="../grp[@tpl = $atpl] or ../opt[@tpl = $atpl]
                        or ../grp[@parent = current()/@parent and @name = $a]
                        or ../opt[@group = current()/@parent and @name = $a]">
            <xsl:message terminate="yes">config.xsd: alias '<xsl:value-of select="$a"/>' of group '<xsl:value-of select="@tpl"/>' is also the name of a group or option</xsl:message>
          </xsl:if>
          <xsl:if test="preceding-sibling::grp[@parent = current()/@parent and contains(concat(' ', @alias, ' '), concat(' ', $a, ' '))]">
            <xsl:message terminate="yes">config.xsd: alias '<xsl:value-of select="$a"/>' is given to two groups under '<xsl:value-of select="@parent"/>'</xsl:message>
          </xsl:if>
        </xsl:when>
        <xsl:when test="$mode = 'c'">
          <xsl:text>	{ </xsl:text>
          <xsl:call-template name="ms-c-string"><xsl:with-param name="s" select="$atpl"/></xsl:call-template>
          <xsl:text>, </xsl:text>
          <xsl:call-template name="ms-c-string"><xsl:with-param name="s" select="@tpl"/></xsl:call-template>
          <xsl:text> },&#10;</xsl:text>
        </xsl:when>
      </xsl:choose>
    </xsl:if>
    <xsl:if test="substring-after($list, ' ') != ''">
      <xsl:call-template name="ms-alias-each">
        <xsl:with-param name="list" select="substring-after($list, ' ')"/>
        <xsl:with-param name="mode" select="$mode"/>
      </xsl:call-template>
    </xsl:if>
  </xsl:template>

  <!-- ============================================================ -->
  <!-- String helpers                                               -->
  <!-- ============================================================ -->
  <xsl:template name="ms-replace">
    <xsl:param name="s"/>
    <xsl:param name="from"/>
    <xsl:param name="to"/>
    <xsl:choose>
      <xsl:when test="$from != '' and contains($s, $from)">
        <xsl:value-of select="concat(substring-before($s, $from), $to)"/>
        <xsl:call-template name="ms-replace">
          <xsl:with-param name="s" select="substring-after($s, $from)"/>
          <xsl:with-param name="from" select="$from"/>
          <xsl:with-param name="to" select="$to"/>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$s"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- C string literal "..." for $s.  Escapes backslash, double quote,
       newline, carriage return, tab, "??" (trigraphs, which -Wtrigraphs
       reports) and the control characters XML 1.0 lets through (DEL and
       U+0080..U+009F, as octal UTF-8 bytes).  XML 1.0 cannot carry the
       other C0 controls, so none can reach here. -->
  <xsl:template name="ms-c-string">
    <xsl:param name="s"/>
    <xsl:variable name="s1">
      <xsl:call-template name="ms-replace">
        <xsl:with-param name="s" select="$s"/>
        <xsl:with-param name="from" select="'\'"/>
        <xsl:with-param name="to" select="'\\'"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="s2">
      <xsl:call-template name="ms-replace">
        <xsl:with-param name="s" select="$s1"/>
        <xsl:with-param name="from" select="'&quot;'"/>
        <xsl:with-param name="to" select="'\&quot;'"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="s3">
      <xsl:call-template name="ms-replace">
        <xsl:with-param name="s" select="$s2"/>
        <xsl:with-param name="from" select="'&#10;'"/>
        <xsl:with-param name="to" select="'\n'"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="s4">
      <xsl:call-template name="ms-replace">
        <xsl:with-param name="s" select="$s3"/>
        <xsl:with-param name="from" select="'&#13;'"/>
        <xsl:with-param name="to" select="'\r'"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="s5">
      <xsl:call-template name="ms-replace">
        <xsl:with-param name="s" select="$s4"/>
        <xsl:with-param name="from" select="'&#9;'"/>
        <xsl:with-param name="to" select="'\t'"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="s6">
      <xsl:call-template name="ms-c-trigraphs"><xsl:with-param name="s" select="$s5"/></xsl:call-template>
    </xsl:variable>
    <xsl:text>"</xsl:text>
    <xsl:call-template name="ms-c-controls"><xsl:with-param name="s" select="$s6"/></xsl:call-template>
    <xsl:text>"</xsl:text>
  </xsl:template>

  <!-- "??" -> "?\?" (so "???" -> "?\?\?"). -->
  <xsl:template name="ms-c-trigraphs">
    <xsl:param name="s"/>
    <xsl:choose>
      <xsl:when test="contains($s, '??')">
        <xsl:value-of select="concat(substring-before($s, '??'), '?\')"/>
        <xsl:call-template name="ms-c-trigraphs">
          <xsl:with-param name="s" select="substring($s, string-length(substring-before($s, '??')) + 2)"/>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$s"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:variable name="ms-ctl" select="'&#127;&#128;&#129;&#130;&#131;&#132;&#133;&#134;&#135;&#136;&#137;&#138;&#139;&#140;&#141;&#142;&#143;&#144;&#145;&#146;&#147;&#148;&#149;&#150;&#151;&#152;&#153;&#154;&#155;&#156;&#157;&#158;&#159;'"/>
  <!-- Octal C escapes (UTF-8 bytes) of the characters of $ms-ctl, 8 chars each. -->
  <xsl:variable name="ms-ctl-oct" select="'\177    \302\200\302\201\302\202\302\203\302\204\302\205\302\206\302\207\302\210\302\211\302\212\302\213\302\214\302\215\302\216\302\217\302\220\302\221\302\222\302\223\302\224\302\225\302\226\302\227\302\230\302\231\302\232\302\233\302\234\302\235\302\236\302\237'"/>

  <xsl:template name="ms-c-controls">
    <xsl:param name="s"/>
    <xsl:choose>
      <xsl:when test="translate($s, $ms-ctl, '') = $s">
        <xsl:value-of select="$s"/>
      </xsl:when>
      <xsl:otherwise>
        <!-- Slow path, only for strings holding such a character:
             output up to the first one, escape it, go on. -->
        <xsl:call-template name="ms-c-controls-slow"><xsl:with-param name="s" select="$s"/></xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template name="ms-c-controls-slow">
    <xsl:param name="s"/>
    <xsl:if test="$s != ''">
      <xsl:variable name="c" select="substring($s, 1, 1)"/>
      <xsl:choose>
        <xsl:when test="contains($ms-ctl, $c)">
          <xsl:variable name="i" select="string-length(substring-before($ms-ctl, $c))"/>
          <xsl:value-of select="normalize-space(substring($ms-ctl-oct, $i * 8 + 1, 8))"/>
        </xsl:when>
        <xsl:otherwise><xsl:value-of select="$c"/></xsl:otherwise>
      </xsl:choose>
      <xsl:call-template name="ms-c-controls-slow">
        <xsl:with-param name="s" select="substring($s, 2)"/>
      </xsl:call-template>
    </xsl:if>
  </xsl:template>

  <!-- C string for an optional attribute node: NULL when absent. -->
  <xsl:template name="ms-c-attr">
    <xsl:param name="n"/>
    <xsl:choose>
      <xsl:when test="$n">
        <xsl:call-template name="ms-c-string"><xsl:with-param name="s" select="string($n)"/></xsl:call-template>
      </xsl:when>
      <xsl:otherwise>NULL</xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- ============================================================ -->
  <!-- include/ms/options.h                                         -->
  <!-- ============================================================ -->
  <xsl:template match="/">
    <xsl:call-template name="ms-check">
      <xsl:with-param name="warn" select="'yes'"/>
    </xsl:call-template>
    <xsl:text>/*
 * options.h: one enumerator per option of the catalogue.
 *
 * Generated from schema/config.xsd by schema/gen-options-h.xsl.
 * Do not edit: change the schema and rebuild.
 *
 * The values index ms_optdefs[] (&lt;ms/optdef.h&gt;, generated
 * options_table.c) and follow the order of the schema.  An enumerator is
 * "MS_OPT_" + the option template without ":*", upper-cased, with every
 * other non-alphanumeric character turned into '_'.
 */
#ifndef MS_OPTIONS_H
#define MS_OPTIONS_H

#include &lt;ms/optdef.h&gt;

enum ms_opt {
</xsl:text>
    <xsl:for-each select="$ms-all/opt">
      <xsl:text>	</xsl:text>
      <xsl:value-of select="@enum"/>
      <xsl:text>, /* </xsl:text>
      <!-- "*/" cannot occur in a template followed by '/', but keep the
           comment safe whatever the name holds. -->
      <xsl:call-template name="ms-replace">
        <xsl:with-param name="s" select="@tpl"/>
        <xsl:with-param name="from" select="'*/'"/>
        <xsl:with-param name="to" select="'* /'"/>
      </xsl:call-template>
      <xsl:text> */&#10;</xsl:text>
    </xsl:for-each>
    <xsl:text>	MS_OPT_COUNT
};

#endif
</xsl:text>
  </xsl:template>

</xsl:stylesheet>
