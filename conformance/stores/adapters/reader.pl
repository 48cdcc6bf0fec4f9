#!/usr/bin/env perl
# A read-only rollout store speaking the stdio protocol of PROTOCOL.md (protocol 1, "reader" profile).
#
# Contract: one JSON response line per request line on stdin; plain wins over .zst, a .zst is
# decoded with `zstd -dcq`, a .zst is hidden when its plain sibling exists, temps (*.tmp) are never
# rollouts, keys are logical .jsonl paths relative to the home. Only core Perl modules are used.
# Run: perl conformance/stores/adapters/reader.pl   (or: rollout-conformance ... --store "cmd:perl reader.pl")
use strict;
use warnings;
use Cwd qw(realpath);
use Encode ();
use Errno qw(ENOENT ELOOP);
use Fcntl qw(O_RDONLY O_NOFOLLOW S_ISREG);
use File::Spec;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Time::HiRes qw(sleep);

my $PROTOCOL = 1;
my $UUID = qr/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/;
my %READER_OPS = map { $_ => 1 } qw(read header list find search);
my %OTHER_OPS = map { $_ => 1 } qw(create append open_writer write close_writer materialize
                                   compress run_worker cleanup archive unarchive delete);
my $json = JSON::PP->new->utf8->canonical;
my $strict_json = JSON::PP->new->utf8;
my $home;    # real path of the configured home

sub fail { my ($kind, $message, $path) = @_; die { kind => $kind, message => $message, path => $path } }

# ---- names and paths -------------------------------------------------------------------------

# (timestamp, lower-case id) of a rollout file name (plain or .zst), or () when it is not one.
sub parse_name {
    my ($file) = @_;
    return () if $file =~ /\.tmp\z/;
    (my $logical = $file) =~ s/\.jsonl\.zst\z/.jsonl/;
    return () unless $logical =~ /\Arollout-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d)-($UUID)\.jsonl\z/;
    return ($1, lc $2);
}

# Lexical normalisation of an absolute path ("." and ".." and repeated "/"), like os.path.normpath.
sub normpath {
    my @out;
    for my $part (split m{/+}, $_[0]) {
        next if $part eq '' || $part eq '.';
        if ($part eq '..') { pop @out } else { push @out, $part }
    }
    return '/' . join('/', @out);
}

sub inside { my ($p) = @_; return $p eq $home || index($p, "$home/") == 0 }

# realpath of a folder that may not exist: resolve the deepest existing ancestor, keep the rest.
sub resolve_folder {
    my ($folder) = @_;
    my @rest;
    until (-e $folder) {
        my ($v, $d, $last) = File::Spec->splitpath($folder);
        unshift @rest, $last;
        $folder = $d eq '/' ? '/' : $d =~ s{/\z}{}r;
    }
    my $real = realpath($folder) // $folder;
    return normpath(join '/', $real, @rest);
}

# The logical location of a request path: (absolute plain path, relative logical path, archived).
sub locate {
    my ($path) = @_;
    fail('invalid_name', 'not a rollout path', $path) if !defined $path || $path eq '' || $path =~ /\0/;
    my $joined = normpath(File::Spec->file_name_is_absolute($path) ? $path : "$home/$path");
    fail('outside_home', 'path is outside the home', $path) unless inside($joined);
    my ($folder, $file) = $joined =~ m{\A(.*)/([^/]*)\z};
    fail('invalid_name', "not a rollout file name (want rollout-<timestamp>-<uuid>.jsonl[.zst])", $path)
        unless parse_name($file);
    my $real = resolve_folder($folder eq '' ? '/' : $folder);
    fail('outside_home', 'a symlink on the path leads out of the home', $path) unless inside($real);
    my $rel_folder = substr($real, length($home) + 1);
    my ($top) = split m{/}, $rel_folder;
    fail('invalid_name', 'rollouts live under sessions/ or archived_sessions/ of the home', $path)
        unless defined $top && ($top eq 'sessions' || $top eq 'archived_sessions');
    fail('invalid_name', 'archived rollouts live directly in archived_sessions/, not in a subfolder', $path)
        if $top eq 'archived_sessions' && $rel_folder ne 'archived_sessions';
    (my $logical = $file) =~ s/\.zst\z//;
    return ("$real/$logical", "$rel_folder/$logical", $top eq 'archived_sessions');
}

# ---- reading ---------------------------------------------------------------------------------

# Every decoded byte of one physical representation; undef when it does not exist.
sub slurp {
    my ($path, $compressed, $rel) = @_;
    my $fh;
    unless (sysopen($fh, $path, O_RDONLY | O_NOFOLLOW)) {
        return undef if $! == ENOENT;
        fail('outside_home', 'refusing to follow a symlink', $rel) if $! == ELOOP;
        fail('io_error', "cannot open: $!", $rel);
    }
    return undef unless -f $fh;    # a folder named like a rollout is not one (NAME-005)
    binmode $fh;
    my $data = '';
    fail('corrupt', 'the .zst holds no zstd data frame (SPEC 4.4)', $rel) if $compressed && !has_data_frame($fh);
    if (!$compressed) {
        while (sysread($fh, my $chunk, 1 << 20)) { $data .= $chunk }
        return $data;
    }
    my $pid = open(my $out, '-|') // fail('io_error', "cannot fork for zstd: $!", $rel);
    if (!$pid) {    # child: decode the already-open (never followed) file
        open(STDIN, '<&', $fh) or POSIX::_exit(127);
        exec('zstd', '-dcq') or POSIX::_exit(127);
    }
    binmode $out;
    while (read($out, my $chunk, 1 << 20)) { $data .= $chunk }
    close $out;
    fail('io_error', 'zstd is not installed (install the zstd package)', $rel) if $? >> 8 == 127;
    fail('corrupt', 'the .zst does not decode (zstd exit status ' . ($? >> 8) . ')', $rel) if $?;
    return $data;
}

# True when the frames of an open .zst include a data frame (skippable frames alone, or nothing, are
# not a compressed rollout); leaves the handle at the start.
sub has_data_frame {
    my ($fh) = @_;
    my $offset = 0;
    my $found = 0;
    while (sysseek($fh, $offset, 0) && sysread($fh, my $head, 8) >= 4) {
        my $magic = unpack('V', substr($head, 0, 4));
        if (($magic & 0xFFFFFFF0) == 0x184D2A50 && length $head == 8) {
            $offset += 8 + unpack('V', substr($head, 4, 4));
            next;
        }
        $found = 1;    # a data frame (or junk, which zstd itself will call corrupt)
        last;
    }
    sysseek($fh, 0, 0);
    return $found;
}

# (content, representation, absolute physical path): plain wins, .zst is the fallback, retried.
sub open_selected {
    my ($plain, $rel) = @_;
    for my $attempt (1 .. 3) {
        for my $candidate ([$plain, 0], ["$plain.zst", 1]) {
            my $data = slurp($candidate->[0], $candidate->[1], $rel);
            return ($data, $candidate->[1] ? 'zst' : 'plain', $candidate->[0]) if defined $data;
        }
        sleep 0.05 if $attempt < 3;
    }
    fail('not_found', 'no plain or compressed representation of this rollout', $rel);
}

# (line, complete) pairs: complete lines without "\n", then a torn tail if any.
sub lines_of {
    my ($data) = @_;
    my @lines = map { [$_, 1] } split /\n/, $data, -1;
    my $tail = pop @lines;
    push @lines, [$tail->[0], 0] if length $tail->[0];
    return @lines;
}

# A hash for a line that is a JSON object, else undef (junk, invalid UTF-8, not an object).
sub parse_line {
    my ($line, $first) = @_;
    $line =~ s/\A\xEF\xBB\xBF// if $first;
    # No UTF-8 JSON object holds a raw NUL; without this, JSON::PP's utf8 mode would detect a
    # UTF-16/32 line and decode it as an object.
    return undef if $line =~ /\0/;
    my $value = eval { $strict_json->decode($line) };
    return ref $value eq 'HASH' ? $value : undef;
}

sub relative { return substr($_[0], length($home) + 1) }

# ---- discovery -------------------------------------------------------------------------------

# Logical rollouts of one area, newest first (mtime_ns of the selected representation, then path).
sub scan {
    my ($archived) = @_;
    my $area = "$home/" . ($archived ? 'archived_sessions' : 'sessions');
    return () unless -d $area && !-l $area;
    # GNU find reports nanosecond mtimes and never follows symlinks; NUL-separated for odd names.
    # archived_sessions/ is flat: its subfolders hold no rollouts (NAME-004).
    open(my $find, '-|', 'find', $area, ($archived ? ('-maxdepth', '1') : ()), '-type', 'f', '-printf', '%T@ %p\0')
        or fail('io_error', "cannot run find: $!", undef);
    my (%files, @entries);
    { local $/ = "\0"; while (my $record = <$find>) { chomp $record; my ($t, $p) = split / /, $record, 2; $files{$p} = $t } }
    close $find;
    # find exits non-zero when it could not read a folder: never a partial listing (ERR-012)
    fail('io_error', "could not read every folder under $area (find exit status " . ($? >> 8) . ')', undef) if $?;
    for my $physical (sort keys %files) {
        my ($folder, $file) = $physical =~ m{\A(.*)/([^/]*)\z};
        my ($timestamp, $id) = parse_name($file) or next;
        my $compressed = $file =~ /\.zst\z/;
        (my $plain = $physical) =~ s/\.zst\z//;
        next if $compressed && exists $files{$plain};
        my ($seconds, $fraction) = split /\./, $files{$physical};
        $fraction = substr(($fraction // '') . '000000000', 0, 9);
        push @entries, {
            path => relative($plain), physical_path => relative($physical), id => $id,
            archived => $archived ? JSON::PP::true : JSON::PP::false,
            representation => $compressed ? 'zst' : 'plain', mtime_ns => $seconds * 1_000_000_000 + $fraction,
        };
    }
    return sort { $b->{mtime_ns} <=> $a->{mtime_ns} || $a->{path} cmp $b->{path} } @entries;
}

# ---- operations ------------------------------------------------------------------------------

my %handlers = (
    hello => sub {
        my ($r) = @_;
        fail('bad_request', "this program speaks protocol $PROTOCOL only", undef)
            unless defined $r->{protocol} && $r->{protocol} eq $PROTOCOL;
        return { protocol => $PROTOCOL, name => 'perl-reader', version => '0.1.0',
                 capabilities => ['reader'], failpoints => [] };
    },
    configure => sub {
        my ($r) = @_;
        my $path = $r->{home} // '';
        fail('invalid_home', 'home does not exist; create it or pass an existing folder', $path) unless -e $path;
        fail('invalid_home', 'home is not a folder', $path) unless -d $path;
        $home = realpath($path);
        return {};
    },
    read => sub {
        my ($r) = @_;
        my ($plain, $rel) = locate($r->{path});
        my ($data, $representation, $physical) = open_selected($plain, $rel);
        my ($items, $errors, $number) = (0, 0, 0);
        for my $line (lines_of($data)) {
            my $first = $number++ == 0;
            next unless $line->[0] =~ /[^ \t\r]/;    # blank: spaces, tabs and CR only (READ-007)
            if ($line->[1] && parse_line($line->[0], $first)) { $items++ } else { $errors++ }
        }
        return { content_b64 => encode_base64($data, ''), items => $items, parse_errors => $errors,
                 representation => $representation, physical_path => relative($physical) };
    },
    header => sub {
        my ($r) = @_;
        my ($plain, $rel) = locate($r->{path});
        my ($data) = open_selected($plain, $rel);
        my $number = 0;
        for my $line (lines_of($data)) {
            my $value = $line->[1] ? parse_line($line->[0], $number == 0) : undef;
            $number++;
            next unless $value;
            my $type = $value->{type} // '';
            if ($type eq 'session_meta' && ref $value->{payload} eq 'HASH') { return { header => $value->{payload} } }
            fail('not_a_rollout', 'rollout does not start with session metadata', $rel) if $type eq 'response_item';
        }
        fail('not_a_rollout', 'rollout is empty: no session metadata line', $rel);
    },
    list => sub { return { entries => [scan($_[0]{archived})] } },
    find => sub {
        my ($r) = @_;
        my $id = $r->{rollout_id} // '';
        return { entry => undef } unless $id =~ /\A$UUID\z/;
        for my $entry (scan(0), scan(1)) { return { entry => $entry } if $entry->{id} eq lc $id }
        return { entry => undef };
    },
    search => sub {
        my ($r) = @_;
        my $needle = Encode::encode('UTF-8', $r->{text} // '');
        my @hits;
        for my $entry (scan($r->{archived})) {
            my $data = eval { (open_selected("$home/$entry->{path}", $entry->{path}))[0] };
            unless (defined $data) {    # vanished: not a hit; anything else fails the search (ERR-012)
                my $error = $@;
                next if ref $error eq 'HASH' && $error->{kind} eq 'not_found';
                die $error;
            }
            my $number = 0;
            for my $line (lines_of($data)) {
                $number++;
                push @hits, { path => $entry->{path}, line_number => $number } if index($line->[0], $needle) >= 0;
            }
        }
        return { hits => \@hits };
    },
    shutdown => sub { return {} },
);

sub answer {
    my ($raw) = @_;
    my $request = eval { $strict_json->decode($raw) };
    return (undef, { id => undef, ok => JSON::PP::false,
                     error => { kind => 'bad_request', message => "not a JSON line: $@", path => undef } })
        unless ref $request eq 'HASH';
    my $id = $request->{id};
    my $op = $request->{op} // '';
    my $result = eval {
        fail('bad_request', 'a request needs an integer "id"', undef) unless defined $id && $id =~ /\A\d+\z/;
        my $handler = $handlers{$op};
        fail('unsupported', "this program declares only the reader capability; $op is not offered", undef)
            if !$handler && $OTHER_OPS{$op};
        fail('bad_request', "unknown op '$op'", undef) unless $handler;
        fail('bad_request', 'configure the store with a home first', undef)
            if $READER_OPS{$op} && !defined $home;
        $handler->($request);
    };
    return ($op, { id => $id, ok => JSON::PP::true, result => $result }) if $result;
    my $error = $@;
    $error = { kind => 'internal', message => "$error", path => undef } unless ref $error eq 'HASH';
    print STDERR "reader.pl: $op: $error->{kind}: $error->{message}\n";
    $id = undef unless defined $id && $id =~ /\A\d+\z/;
    return ($op, { id => defined $id ? 0 + $id : undef, ok => JSON::PP::false, error => $error });
}

$| = 1;
binmode STDIN;
binmode STDOUT;
while (my $raw = <STDIN>) {
    chomp $raw;
    my ($op, $response) = answer($raw);
    print $json->encode($response), "\n";
    last if defined $op && $op eq 'shutdown';
}
