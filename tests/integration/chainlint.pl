#!/usr/bin/perl
# chainlint.pl - checks that a test body is one && chain, after git's
# t/chainlint.pl.
#
#   chainlint.pl <body           prints one line per problem, exits 1 if any
#   chainlint.pl --file <script  the same for the functions a script defines
#
# A test body fails when any of its steps fails only if every step is joined
# to the next by && (or ||, |): a step after a newline or ';' runs whatever
# the one before it did, and only the last step decides. So in the body, and
# in every subshell, { } group, if/else branch and case arm inside it, the
# commands must form one && chain. A loop goes on to its next round whatever
# its body returned, so a loop body is one && chain that ends in
# `|| return 1` (or `|| exit 1`), which stops the test at the first failure.
#
# The parser knows the shell's quoting, $( ), <( ), ${ }, backquotes, comments
# and here-documents; what is inside $( ) and <( ) is not checked.

use strict;
use warnings;
use feature 'current_sub';

my $src = do { local $/; <STDIN> };
$src = '' unless defined $src;

my @problems;
my $file_mode = @ARGV && $ARGV[0] eq '--file';
my $in_function = 0;
sub problem { push @problems, sprintf("line %d: %s", @_) if !$file_mode || $in_function }

# ---- lexer: tokens are [type, text, line]; type is W (word), O (operator),
# R (redirection, its target is the next word) or N (newline).
my @tok;
sub lex {
    my $line = 1;
    my @heredocs;    # [delimiter, strip tabs] waiting for the next newline
    my $pos = 0;
    my $n = length $src;

    # Skips a balanced construct starting after its opener; returns the end.
    my $skip_balanced;
    my $skip_quoted = sub {
        my ($p, $q) = @_;    # $p just after the opening quote
        while ($p < $n) {
            my $c = substr($src, $p, 1);
            $line++ if $c eq "\n";
            if ($q eq "'") {
                return $p + 1 if $c eq "'";
                $p++;
                next;
            }
            if ($c eq '\\') { $line++ if substr($src, $p + 1, 1) eq "\n"; $p += 2; next; }
            return $p + 1 if $c eq $q;
            if ($q eq '"' && $c eq '$' && substr($src, $p + 1, 1) =~ /[({]/) {
                my $o = substr($src, $p + 1, 1);
                $p = $skip_balanced->($p + 2, $o, $o eq '(' ? ')' : '}');
                next;
            }
            if ($q eq '"' && $c eq '`') { $p = __SUB__->($p + 1, '`'); next; }
            $p++;
        }
        die "unterminated $q quote\n";
    };
    $skip_balanced = sub {
        my ($p, $open, $close) = @_;
        my $depth = 1;
        while ($p < $n) {
            my $c = substr($src, $p, 1);
            if ($c eq "\n") { $line++; $p++; next; }
            if ($c eq '\\') { $line++ if substr($src, $p + 1, 1) eq "\n"; $p += 2; next; }
            if ($c eq "'" || $c eq '"' || $c eq '`') { $p = $skip_quoted->($p + 1, $c); next; }
            if ($c eq $open) { $depth++; }
            elsif ($c eq $close) { $depth--; return $p + 1 if $depth == 0; }
            $p++;
        }
        die "unterminated '$open'\n";
    };
    my $after_heredoc_op = 0;    # 0, '<<' or '<<-'
    while ($pos < $n) {
        my $c = substr($src, $pos, 1);
        if ($c eq ' ' || $c eq "\t") { $pos++; next; }
        if ($c eq '\\' && substr($src, $pos + 1, 1) eq "\n") { $pos += 2; $line++; next; }
        if ($c eq '#') {
            $pos++ while $pos < $n && substr($src, $pos, 1) ne "\n";
            next;
        }
        if ($c eq "\n") {
            push @tok, ['N', "\n", $line];
            $pos++;
            $line++;
            for my $h (@heredocs) {
                my ($delim, $strip) = @$h;
                my $found = 0;
                while ($pos < $n) {
                    my $e = index($src, "\n", $pos);
                    $e = $n if $e < 0;
                    my $l = substr($src, $pos, $e - $pos);
                    $pos = $e + 1;
                    $line++;
                    $l =~ s/^\t+// if $strip;
                    if ($l eq $delim) { $found = 1; last; }
                }
                die "here-document '$delim' is not terminated\n" unless $found;
            }
            @heredocs = ();
            next;
        }
        if (substr($src, $pos) =~ /^(&&|\|\||;;|\|&|[;&|()])/ && substr($src, $pos, 2) ne '&>') {
            push @tok, ['O', $1, $line];
            $pos += length $1;
            next;
        }
        if (substr($src, $pos) =~ /^(\d*)(<<-|<<<|<<|>>|>&|<&|>\||<>|&>>|&>|[<>])/ && substr($src, $pos, 2) !~ /^[<>]\(/) {
            push @tok, ['R', "$1$2", $line];
            $after_heredoc_op = $2 if $2 eq '<<' || $2 eq '<<-';
            $pos += length "$1$2";
            next;
        }
        # a word
        my $start = $pos;
        my $wline = $line;
        while ($pos < $n) {
            $c = substr($src, $pos, 1);
            if ($c =~ /[<>]/ && substr($src, $pos + 1, 1) eq '(') {    # <(...), >(...)
                $pos = $skip_balanced->($pos + 2, '(', ')');
                next;
            }
            last if $c =~ /[ \t\n;&|()<>]/;
            if ($c eq '\\') { $line++ if substr($src, $pos + 1, 1) eq "\n"; $pos += 2; next; }
            if ($c eq "'" || $c eq '"' || $c eq '`') { $pos = $skip_quoted->($pos + 1, $c); next; }
            if ($c eq '$' && substr($src, $pos + 1, 1) eq '(') { $pos = $skip_balanced->($pos + 2, '(', ')'); next; }
            if ($c eq '$' && substr($src, $pos + 1, 1) eq '{') { $pos = $skip_balanced->($pos + 2, '{', '}'); next; }
            $pos++;
        }
        my $w = substr($src, $start, $pos - $start);
        if ($after_heredoc_op) {
            (my $d = $w) =~ s/['"\\]//g;
            push @heredocs, [$d, $after_heredoc_op eq '<<-'];
            $after_heredoc_op = 0;
        }
        push @tok, ['W', $w, $wline];
    }
    die "here-document is not terminated\n" if @heredocs;
}

# ---- parser
my $i = 0;
sub peek { $i < @tok ? $tok[$i] : undef }
sub is_op { my ($t, $o) = @_; defined $t && $t->[0] eq 'O' && $t->[1] eq $o }
sub is_word { my ($t, $w) = @_; defined $t && $t->[0] eq 'W' && $t->[1] eq $w }
sub skip_nl { $i++ while defined peek() && peek()->[0] eq 'N' }
sub expect_word {
    my ($w) = @_;
    my $t = peek();
    die sprintf("line %d: expected '%s'\n", $t ? $t->[2] : 0, $w) unless is_word($t, $w);
    $i++;
}

my %closer = map { $_ => 1 } qw(then elif else fi do done esac });

# A list: and-or lists separated by ';', '&' or newlines, up to a closing
# word in command position, ')', ';;' or the end. Returns the and-or lists,
# each { line, end => its first and last line, cmds => the first command of
# each of its pipelines, ops => the && and || between them, sep => what
# follows it }.
sub parse_list {
    my @items;
    while (1) {
        skip_nl();
        my $t = peek();
        last if !defined $t;
        last if $t->[0] eq 'O' && ($t->[1] eq ')' || $t->[1] eq ';;');
        last if $t->[0] eq 'W' && $closer{$t->[1]};
        push @items, parse_and_or();
        $t = peek();
        if (defined $t && ($t->[0] eq 'N' || is_op($t, ';') || is_op($t, '&'))) {
            $items[-1]{sep} = $t->[1];
            $i++;
            next;
        }
        last;
    }
    return \@items;
}

sub parse_and_or {
    my $t = peek();
    my %item = (line => $t->[2], ops => [], cmds => []);
    while (1) {
        push @{$item{cmds}}, parse_pipeline();
        my $o = peek();
        if (defined $o && $o->[0] eq 'O' && ($o->[1] eq '&&' || $o->[1] eq '||')) {
            push @{$item{ops}}, $o->[1];
            $i++;
            skip_nl();
            next;
        }
        last;
    }
    $item{end} = $tok[$i - 1][2];
    return \%item;
}

sub parse_pipeline {
    my $first;
    $i++ if is_word(peek(), '!');
    while (1) {
        my $c = parse_command();
        $first //= $c;
        my $o = peek();
        if (is_op($o, '|') || is_op($o, '|&')) { $i++; skip_nl(); next; }
        last;
    }
    return $first;
}

# The and-or lists of a list that must be one chain. A list that ends in
# `return N` or `exit N` (N not 0) fails whatever comes before, which is
# only there to explain the failure, so it need not be a chain. A `||`
# after a `&&` would run when any step before it failed, and go on.
# $top: the test body itself, which the harness runs after `(exit 117) &&`.
sub check_chain {
    my ($items, $what, $top) = @_;
    for my $item (@$items) {
        my $seen_and = $top;
        for my $k (0 .. $#{$item->{ops}}) {
            my $op = $item->{ops}[$k];
            if ($op eq '||' && $seen_and && !$item->{cmds}[$k + 1]{exits}) {
                problem($item->{line}, "'||' after '&&'$what: if a step before '$item->{cmds}[$k]{text}' fails, "
                    . "'$item->{cmds}[$k + 1]{text}' runs and the chain goes on; group it in { ... || ...; }");
            }
            $seen_and = 1 if $op eq '&&';
        }
    }
    return if @$items > 1 && !@{$items->[-1]{ops}} && $items->[-1]{cmds}[0]{exits} && !$top;
    for my $k (1 .. $#$items) {
        my $prev = $items->[$k - 1];
        # `... || return 1` (or exit, break) leaves on a failure: what follows
        # may be a new chain
        next if !$top && @{$prev->{ops}} && $prev->{ops}[-1] eq '||' && $prev->{cmds}[-1]{returns};
        my $sep = $prev->{sep} eq "\n" ? 'newline' : "'$prev->{sep}'";
        problem($prev->{end},
            "'$prev->{cmds}[-1]{text}' is followed by a $sep, not &&, before '$items->[$k]{cmds}[0]{text}'$what");
    }
}

sub check_loop_body {
    my ($items) = @_;
    check_chain($items, ' in a loop body');
    return unless @$items;
    my $last = $items->[-1];
    my $cmd = $last->{cmds}[-1];
    my $ok = @{$last->{ops}} && $last->{ops}[-1] eq '||' && $cmd->{exits};
    problem($last->{end}, "the loop body does not end in '|| return 1': a failing step would not stop the loop")
        unless $ok;
}

# Redirections and words after a compound command.
sub trailing_redirects {
    while (defined(my $t = peek())) {
        if ($t->[0] eq 'R') { $i += 2; next; }
        last;
    }
}

# Parses one command, checking the lists inside it. Returns { text => its
# first words, returns => it is return, exit, break or continue, exits => it
# is `return N` or `exit N` (N not 0), or a group that always ends in one }.
sub parse_command {
    my $t = peek();
    die "unexpected end\n" unless defined $t;
    my $line = $t->[2];
    if (is_op($t, '(')) {
        $i++;
        my $items = parse_list();
        die "line $line: '(' without ')'\n" unless is_op(peek(), ')');
        $i++;
        check_chain($items, ' in a subshell');
        trailing_redirects();
        return { text => '( ... )', exits => ends_in_exit($items), returns => ends_in_exit($items) };
    }
    if ($t->[0] eq 'W') {
        my $w = $t->[1];
        if ($w eq '{') {
            $i++;
            my $items = parse_list();
            expect_word('}');
            check_chain($items, ' in a { } group');
            trailing_redirects();
            return { text => '{ ... }', exits => ends_in_exit($items), returns => ends_in_exit($items) };
        }
        if ($w eq 'if') {
            $i++;
            parse_list();
            expect_word('then');
            check_chain(parse_list(), ' in an if branch');
            while (is_word(peek(), 'elif')) {
                $i++;
                parse_list();
                expect_word('then');
                check_chain(parse_list(), ' in an if branch');
            }
            if (is_word(peek(), 'else')) {
                $i++;
                check_chain(parse_list(), ' in an else branch');
            }
            expect_word('fi');
            trailing_redirects();
            return { text => 'if ... fi' };
        }
        if ($w eq 'for' || $w eq 'while' || $w eq 'until') {
            $i++;
            if ($w eq 'for') {
                $i++;    # the name
                while (defined(my $u = peek())) {
                    last if $u->[0] eq 'N' || is_op($u, ';') || is_word($u, 'do');
                    $i++;
                }
                $i++ if is_op(peek(), ';');
                skip_nl();
            } else {
                parse_list();
            }
            expect_word('do');
            check_loop_body(parse_list());
            expect_word('done');
            trailing_redirects();
            return { text => "$w ... done" };
        }
        if ($w eq 'case') {
            $i += 2;
            expect_word('in');
            while (1) {
                skip_nl();
                last if is_word(peek(), 'esac');
                $i++ if is_op(peek(), '(');
                while (defined(my $u = peek())) {    # the patterns
                    $i++;
                    last if is_op($u, ')');
                }
                check_chain(parse_list(), ' in a case arm');
                $i++ if is_op(peek(), ';;');
            }
            expect_word('esac');
            trailing_redirects();
            return { text => 'case ... esac' };
        }
        if (is_op($tok[$i + 1], '(') && is_op($tok[$i + 2], ')')) {    # a function
            $i += 3;
            skip_nl();
            $in_function++;
            parse_command();
            $in_function--;
            return { text => "$w()" };
        }
    }
    # a simple command: words and redirections up to an operator
    my (@words, $text);
    my $start = $i;
    while (defined(my $u = peek())) {
        last if $u->[0] eq 'N' || $u->[0] eq 'O';
        if ($u->[0] eq 'W') {
            push @words, $u->[1] unless $i > $start && $tok[$i - 1][0] eq 'R';
            $text .= ($i > $start && $tok[$i - 1][0] ne 'R' ? ' ' : '') . $u->[1];
        } else {
            $text .= ($i > $start ? ' ' : '') . $u->[1];
        }
        $i++;
    }
    die sprintf("line %d: expected a command before '%s'\n", $line, $t->[1] eq "\n" ? 'newline' : $t->[1])
        if $i == $start;
    $text =~ s/\s*\\\n\s*/ /g;
    $text = substr($text, 0, 57) . '...' if length $text > 60;
    my $returns = @words && $words[0] =~ /^(return|exit|break|continue)$/;
    my $exits = @words && $words[0] =~ /^(return|exit)$/ && (@words == 1 || $words[1] ne '0');
    return { text => $text, returns => $returns, exits => $exits };
}

# A group or subshell that always ends in `return N` or `exit N` (N not 0).
sub ends_in_exit {
    my ($items) = @_;
    return 0 unless @$items;
    my $last = $items->[-1];
    return !@{$last->{ops}} && $last->{cmds}[0]{exits};
}

eval {
    lex();
    my $items = parse_list();
    check_chain($items, '', 1) unless $file_mode;
    my $t = peek();
    die sprintf("line %d: unexpected '%s'\n", $t->[2], $t->[1]) if defined $t;
    1;
} or do {
    my $e = $@;
    chomp $e;
    push @problems, "cannot parse the body: $e";
};

print "$_\n" for @problems;
exit(@problems ? 1 : 0);
