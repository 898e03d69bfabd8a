-- Reference data: geography, TDI 3.0 code lists, ICD-10 codes and facilities.
-- Rows are loaded from the versioned files in seeds/ by the seed loader.

create table seed_file (
    name text primary key not null,
    sha256 text not null check (length(sha256) = 64),
    row_count bigint not null check (row_count >= 0),
    loaded_at text not null
);

create table district (
    slug text primary key not null check (length(slug) between 1 and 40),
    name_sq text not null check (length(name_sq) > 0),
    name_sr text not null check (length(name_sr) > 0)
);

create table municipality (
    slug text primary key not null check (length(slug) between 1 and 40),
    name_sq text not null check (length(name_sq) > 0),
    name_sr text not null check (length(name_sr) > 0),
    district text not null references district (slug)
);

create table code_list_item (
    list text not null check (length(list) between 1 and 40),
    code text not null check (length(code) between 1 and 10),
    label text not null check (length(label) > 0),
    parent text,
    -- Row order in the seed file, which follows the protocol's order.
    position bigint not null check (position >= 0),
    primary key (list, code),
    foreign key (list, parent) references code_list_item (list, code)
);

create table icd10_code (
    code text primary key not null check (length(code) between 3 and 5),
    label text not null check (length(label) > 0),
    family text not null check (length(family) > 0)
);

create table facility (
    code text primary key not null check (length(code) between 1 and 60),
    name text not null check (length(name) > 0),
    municipality text not null references municipality (slug),
    centre_type text not null check (centre_type in ('1', '2', '3', '4', '5', '6', '99')),
    emergency_capable boolean not null,
    active boolean not null default true
);

create index facility_municipality on facility (municipality);
