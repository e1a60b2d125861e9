#!/usr/bin/env bash
# Fails (exit 1, naming file and line) when a server module imports from a layer above its own.
# The layers of server/src, lowest first (ARCHITECTURE.md, "Layers"):
#
#   model/    plain records                      may import: model
#   policy/   decisions (access, ingest, audit)  may import: model, policy
#   storage/  the Storage trait and backends     may import: model, policy, storage
#   http/     axum state, routers, handlers      may import: everything below and http
#   top       cli/, demo/, start.rs, main.rs,     may import anything
#             lib.rs
#
# config.rs is plain data (defaults, TOML, environment): every layer may read it, so it must
# import nothing of the crate itself; this script checks that too.
#
# What counts as an import: any `crate::<module>` path outside a comment, including the members
# of a grouped `use crate::{a, b::c}`. `super::` stays inside a module's own folder, except
# `super::super::`, which is refused in the layered folders (write `crate::…`).
set -euo pipefail
cd "$(dirname "$0")/../server/src"

exec perl - <<'PERL'
use strict;
use warnings;
my %rank = (model => 0, config => 0, policy => 1, storage => 2, http => 3,
            cli => 4, demo => 4, main => 4, lib => 4, start => 4);
my $group_item = qr#(?:^|[\{,])\s*([a-z_][a-z_0-9]*)\s*(?=::|,|\}|$)#;
my $failed = 0;
my @files = sort split /\n/, `find . -name '*.rs'`;
for my $path (@files) {
    (my $file = $path) =~ s#^\./##;
    my ($own) = $file =~ m#^([a-z_0-9]+)#;
    next unless defined $own && defined $rank{$own};
    my $own_rank = $rank{$own};
    open my $fh, "<", $file or die "$file: $!";
    my @lines = <$fh>;
    close $fh;
    my $in_group = 0;
    for my $i (0 .. $#lines) {
        my $n = $i + 1;
        (my $code = $lines[$i]) =~ s#//.*$##;
        my @targets;
        if ($in_group) {
            # Inside `use crate::{ … }`: each item's first segment names a module.
            push @targets, $1 while $code =~ m#$group_item#g;
            $in_group = 0 if $code =~ m#\};#;
        }
        while ($code =~ m#\bcrate::([a-z_][a-z_0-9]*)#g) { push @targets, $1; }
        if ($code =~ m#\bcrate::\{(.*)$#) {
            my $rest = $1;
            push @targets, $1 while $rest =~ m#$group_item#g;
            $in_group = 1 unless $rest =~ m#\}#;
        }
        if ($own_rank < 4 && $code =~ m#\bsuper::super::#) {
            print "$file:$n: super::super:: leaves the module folder; name the layer with crate::\n";
            $failed = 1;
        }
        for my $target (@targets) {
            next unless defined $rank{$target};
            if ($own eq "config") {
                print "$file:$n: config.rs is plain data and imports nothing of the crate (crate::$target)\n";
                $failed = 1;
            } elsif ($target ne "config" && $rank{$target} > $own_rank) {
                print "$file:$n: $own (layer $own_rank) imports crate::$target (layer $rank{$target}), a layer above it\n";
                $failed = 1;
            }
        }
    }
}
if ($failed) {
    print "check-layers: upward imports found (order: model < policy < storage < http < cli, demo, start, main, lib)\n";
    exit 1;
}
print "check-layers: no upward imports\n";
PERL
