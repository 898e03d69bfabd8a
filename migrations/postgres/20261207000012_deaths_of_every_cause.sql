-- Deaths of every cause (issue 17): a death that turns out not to be drug-related is
-- completed with its WHO ICD-10 code (the full classification is reference data,
-- seeds/icd10_who.csv, loaded into icd10_code) and the manner `natural`.
alter table death drop constraint death_manner_check;
alter table death add constraint death_manner_check
    check (manner in ('natural', 'accident', 'suicide', 'homicide', 'undetermined', 'pending'));
